"""Cortical sheets: the TopoLoss grid (oracle: the topoloss package), distances, layouts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from toposcope._validation import ToposcopeError
from toposcope.sheet import (
    MAX_DENSE_UNITS,
    CorticalSheet,
    channel_space_sheet,
    grid_shape,
    grid_sheet,
    load_positions,
)


def test_grid_shape_matches_topoloss_package_for_every_count_up_to_5000():
    from topoloss.cortical_sheet.common import find_cortical_sheet_size

    for n in range(1, 5001):
        size = find_cortical_sheet_size(n)
        assert grid_shape(n) == (size.height, size.width), n


@pytest.mark.parametrize("n, expected", [(64, (8, 8)), (512, (16, 32)), (3072, (48, 64)), (13, (1, 13)), (1536, (32, 48))])
def test_grid_shape_known_values(n, expected):
    assert grid_shape(n) == expected


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "8"])
def test_grid_shape_rejects_non_positive_integers(bad):
    with pytest.raises(ToposcopeError, match="positive unit count"):
        grid_shape(bad)


@pytest.mark.parametrize("n", [12, 64, 97, 3072])
def test_grid_positions_follow_the_topoloss_reshape(n):
    """Unit i must sit where topoloss puts row i of a Linear weight: sheet[row, col]."""
    import torch
    from topoloss.cortical_sheet.output import get_cortical_sheet_linear

    layer = torch.nn.Linear(1, n, bias=False)
    with torch.no_grad():
        layer.weight[:, 0] = torch.arange(n, dtype=torch.float32)
    placed = get_cortical_sheet_linear(layer, strict_layer_type=True)[..., 0].detach().numpy()
    sheet = grid_sheet(n)
    rows, cols = sheet.y.astype(int), sheet.x.astype(int)
    np.testing.assert_array_equal(placed[rows, cols], np.arange(n))
    assert sheet.grid == placed.shape


def test_distance_blocks_equal_dense_distances():
    rng = np.random.default_rng(1)
    sheet = CorticalSheet(positions=rng.uniform(0, 10, (517, 2)), units="mm")
    dense = cdist(sheet.positions, sheet.positions)
    rebuilt = np.vstack([block for _, block in sheet.distance_blocks(block_size=100)])
    np.testing.assert_allclose(rebuilt, dense)
    np.testing.assert_allclose(sheet.pairwise_distances(), dense)


def test_dense_distances_refused_for_large_sheets():
    sheet = grid_sheet(MAX_DENSE_UNITS + 1)
    with pytest.raises(ToposcopeError, match="distance_blocks"):
        sheet.pairwise_distances()


def test_neighbours_within_radius_match_brute_force():
    sheet = grid_sheet(60)
    found = sheet.neighbors_within(1.5)
    dense = cdist(sheet.positions, sheet.positions)
    for i, neighbours in enumerate(found):
        assert sorted(neighbours) == sorted(np.nonzero(dense[i] <= 1.5)[0])
    # an interior grid unit has its 8 queen neighbours plus itself
    _, w = sheet.grid
    interior = 1 * w + 1
    assert len(found[interior]) == 9


def test_nearest_neighbours_exclude_self():
    sheet = grid_sheet(16)
    distances, indices = sheet.nearest_neighbors(4)
    assert distances.shape == (16, 4)
    np.testing.assert_allclose(distances[5], 1.0)  # unit 5 is interior on a 4x4 grid
    assert 5 not in indices[5]


def test_channel_space_default_layout_is_retinotopic_with_channel_subgrids():
    sheet = channel_space_sheet(4, 3, 5)
    assert sheet.n_units == 60 and sheet.layout == "channel_space"
    # flattening order of a (channel, row, col) activation
    c, r, k = np.unravel_index(np.arange(60), (4, 3, 5))
    np.testing.assert_array_equal(sheet.channel, c)
    np.testing.assert_array_equal(sheet.row, r)
    np.testing.assert_array_equal(sheet.col, k)
    np.testing.assert_array_equal(sheet.x, k * 2 + c % 2)
    np.testing.assert_array_equal(sheet.y, r * 2 + c // 2)
    assert len({tuple(p) for p in sheet.positions}) == 60  # every unit has its own place


def test_channel_space_rejects_positions_of_another_layer():
    with pytest.raises(ToposcopeError, match="hold 10 units but layer 'conv' has 60"):
        channel_space_sheet(4, 3, 5, positions=np.zeros((10, 2)), name="conv")


@pytest.mark.parametrize(
    "positions, message",
    [(np.zeros((5, 3)), r"shape \(n_units, 2\)"), (np.array([[0.0, np.nan]]), "NaN")],
)
def test_sheet_rejects_bad_positions(positions, message):
    with pytest.raises(ToposcopeError, match=message):
        CorticalSheet(positions=positions)


def test_grid_must_hold_all_positions():
    with pytest.raises(ToposcopeError, match="grid"):
        CorticalSheet(positions=np.zeros((5, 2)), grid=(2, 3))


def test_unit_coords_carry_layer_and_position():
    coords = channel_space_sheet(2, 2, 2).unit_coords("layer1")
    assert set(coords) == {"layer", "x", "y", "channel", "row", "col"}
    assert all(dim == "unit" and len(values) == 8 for dim, values in coords.values())


def test_load_positions_missing_file_is_one_line_error(tmp_path):
    with pytest.raises(ToposcopeError):
        load_positions(tmp_path / "nope.pkl")
