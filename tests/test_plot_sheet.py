"""Sheet maps: images for complete grids (read back exactly), scatter otherwise, symmetric scales."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from toposcope._validation import ToposcopeError
from toposcope.plot import grid_image, plot_sheet, plot_sheets, save_figure
from toposcope.sheet import grid_sheet


def sheet_map(values: np.ndarray, x: np.ndarray, y: np.ndarray, name: str = "value") -> xr.DataArray:
    return xr.DataArray(values, dims=("unit",), coords={"x": ("unit", x), "y": ("unit", y)}, name=name)


def planted_grid(h: int = 3, w: int = 5) -> tuple[xr.DataArray, np.ndarray]:
    """A map on the TopoLoss grid of h * w units and the image it should draw."""
    sheet = grid_sheet(h * w)
    yy, xx = np.mgrid[0:h, 0:w]
    image = np.sin(xx / 2.0) + yy**2 / 3.0  # no symmetry, so transposes and flips show
    values = image[sheet.y.astype(int), sheet.x.astype(int)]
    return sheet_map(values, sheet.x, sheet.y), image


def test_grid_map_draws_the_planted_image():
    values, image = planted_grid()
    artist = plot_sheet(values)
    assert isinstance(artist, AxesImage)
    np.testing.assert_allclose(np.asarray(artist.get_array()), image, rtol=0, atol=1e-12)
    # Pixel centres on the integer unit positions, row 0 at the top.
    assert artist.get_extent() == [-0.5, 4.5, 2.5, -0.5]


def test_unit_order_does_not_matter():
    values, image = planted_grid(4, 6)
    shuffled = values.isel(unit=np.random.default_rng(0).permutation(values.sizes["unit"]))
    artist = plot_sheet(shuffled, colorbar=False)
    np.testing.assert_allclose(np.asarray(artist.get_array()), image, rtol=0, atol=1e-12)


def test_offset_grid_keeps_its_origin():
    values, image = planted_grid(2, 3)
    moved = values.assign_coords(x=values["x"] + 10, y=values["y"] + 5)
    image_out, origin = grid_image(moved)
    assert origin == (10.0, 5.0)
    np.testing.assert_array_equal(image_out, image)


@pytest.mark.parametrize(
    "x, y",
    [
        (np.array([0.0, 1.3, 2.7, 0.4]), np.array([0.0, 0.2, 1.9, 3.1])),  # positions in mm
        (np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])),  # a 2x2 grid with a hole
        (np.array([0.0, 0.0, 1.0, 1.0]), np.array([0.0, 0.0, 0.0, 1.0])),  # a repeated position
    ],
)
def test_scattered_positions_draw_a_scatter(x, y):
    values = sheet_map(np.arange(len(x), dtype=float), x, y)
    assert grid_image(values) is None
    artist = plot_sheet(values)
    assert isinstance(artist, PathCollection)
    np.testing.assert_allclose(artist.get_offsets(), np.stack([x, y], axis=1))
    np.testing.assert_allclose(np.asarray(artist.get_array()), values.values)
    assert artist.axes.yaxis_inverted()  # y = 0 at the top, as for images


def test_center_gives_a_symmetric_diverging_scale():
    values = sheet_map(np.array([-1.0, 0.5, 3.0, 2.0]), np.array([0.0, 1, 0, 1]), np.array([0.0, 0, 1, 1]))
    artist = plot_sheet(values, center=0.0)
    assert artist.get_clim() == (-3.0, 3.0)
    assert artist.get_cmap().name == "RdBu_r"
    assert plot_sheet(values, center=0.0, vmax=5.0).get_clim() == (-5.0, 5.0)
    assert plot_sheet(values).get_clim() == (-1.0, 3.0)


def test_nan_units_stay_blank():
    values, image = planted_grid()
    values[3] = np.nan
    drawn = np.ma.filled(plot_sheet(values).get_array(), np.nan)
    assert np.isnan(drawn).sum() == 1 and np.isfinite(drawn).sum() == image.size - 1


def test_plot_sheets_shares_one_scale():
    small, _ = planted_grid()
    large = small * 10 - 4
    figure = plot_sheets({"small": small, "large": large, "third": small}, ncols=2, center=0.0)
    assert isinstance(figure, Figure)
    images = [ax.images[0] for ax in figure.axes if ax.images]
    assert len(images) == 3
    limits = {image.get_clim() for image in images}
    high = float(np.abs(large.values).max())
    assert limits == {(-high, high)}
    assert [ax.get_title() for ax in figure.axes if ax.images] == ["small", "large", "third"]
    assert sum(1 for ax in figure.axes if not ax.get_visible()) == 1  # the empty fourth panel


def test_plot_sheets_separate_scales():
    small, _ = planted_grid()
    figure = plot_sheets({"a": small, "b": small * 2}, shared_scale=False)
    first, second = (ax.images[0].get_clim() for ax in figure.axes if ax.images)
    assert first != second


def test_save_figure_writes_png_and_pdf(tmp_path):
    values, _ = planted_grid()
    figure = plot_sheets({"map": values})
    written = save_figure(figure, tmp_path / "figures" / "map.png")
    assert [p.name for p in written] == ["map.png", "map.pdf"]
    assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert written[1].read_bytes()[:5] == b"%PDF-"
    assert not list((tmp_path / "figures").glob("*.tmp"))


@pytest.mark.parametrize(
    "values, message",
    [
        (np.zeros(4), "must be an xr.DataArray"),
        (xr.DataArray(np.zeros((2, 3)), dims=("stimulus", "unit")), "single dim 'unit'"),
        (xr.DataArray(np.zeros(3), dims=("unit",), coords={"x": ("unit", np.arange(3))}), r"missing y"),
    ],
)
def test_bad_maps_raise_one_line(values, message):
    with pytest.raises(ToposcopeError, match=message):
        plot_sheet(values)


def test_plot_sheets_needs_maps():
    with pytest.raises(ToposcopeError, match="non-empty mapping"):
        plot_sheets({})


@pytest.mark.parametrize(("layers", "expected"), [
    ([f"encoder.layer.{i}.intermediate.dense" for i in range(3)], ["layer.0", "layer.1", "layer.2"]),
    (["h.0.mlp.c_fc", "h.1.mlp.c_fc"], ["h.0", "h.1"]),
    (["layer.0.attn", "layer.0.mlp", "layer.1.attn"], ["layer.0.attn", "layer.0.mlp", "layer.1.attn"]),
    (["layer4.1.conv2"], ["layer4.1.conv2"]),
    (["conv1", "conv2", "fc1"], ["conv1", "conv2", "fc1"]),
    (["transformer.resblocks.10.mlp.c_fc"], ["...sblocks.10.mlp.c_fc"]),  # 22 characters, its end kept
])
def test_layer_labels_are_short_and_distinct(layers, expected):
    from toposcope.plot.sheet import layer_labels

    labels = layer_labels(layers)
    assert list(labels) == layers and list(labels.values()) == expected
    assert len(set(labels.values())) == len(layers)


def test_saved_figures_are_byte_identical_run_after_run(tmp_path):
    from matplotlib.figure import Figure

    from toposcope.plot.sheet import save_figure

    def draw(stem):
        figure = Figure(figsize=(2, 2))
        figure.subplots().plot([0, 1], [1, 0])
        return save_figure(figure, stem)

    first, second = draw(tmp_path / "a"), draw(tmp_path / "b")
    assert [p.suffix for p in first] == [".png", ".pdf"]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes()
