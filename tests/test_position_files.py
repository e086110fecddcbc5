"""TopoLM and TDANN position files: real formats, restricted unpickling, errors."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
from _position_writers import (
    tdann_layer,
    topolm_layer,
    write_tdann_positions,
    write_topolm_positions,
)
from conftest import shared_path

from toposcope._validation import ToposcopeError
from toposcope.sheet import load_positions
from toposcope.sheet.position_files import positions_files, read_positions, read_positions_dir


# --------------------------------------------------------------------------- TopoLM
@pytest.mark.parametrize("module", ["positions", "models.positions"])
def test_topolm_pickle_reads_without_topolm(tmp_path, module):
    coords = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    mask = torch.tensor([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]])
    path = write_topolm_positions(tmp_path, "layer.3.mlp", coords, mask, module=module)
    sheet = read_positions(path)
    np.testing.assert_array_equal(sheet.positions, coords.numpy())
    np.testing.assert_array_equal(sheet.x, [1, 0, 1, 0])
    np.testing.assert_array_equal(sheet.y, [0, 1, 1, 0])
    assert (sheet.units, sheet.layout, sheet.name, sheet.grid) == ("grid", "channel", "layer.3.mlp", None)
    # 0/1 masks become unit indices; the empty third row is dropped.
    np.testing.assert_array_equal(sheet.neighborhoods, [[0, 1], [1, 2]])


def test_topolm_uneven_neighborhoods_are_padded(tmp_path):
    mask = torch.tensor([[1, 1, 1], [0, 1, 0]])
    path = write_topolm_positions(tmp_path, "layer.0.attn", torch.zeros(3, 2), mask)
    np.testing.assert_array_equal(read_positions(path).neighborhoods, [[0, 1, 2], [1, -1, -1]])


def test_topolm_lattice_layer(tmp_path):
    coords = topolm_layer(tmp_path, "layer.0.attn", side=6, radius=2)
    sheet = read_positions(tmp_path / "layer.0.attn.pkl")
    np.testing.assert_array_equal(sheet.positions, coords)
    # Every neighbourhood is a 3x3 block of the lattice (sup-norm radius 2).
    assert sheet.neighborhoods.shape == (16, 9)
    for row in sheet.neighborhoods:
        block = sheet.positions[row]
        assert np.ptp(block, axis=0).tolist() == [2.0, 2.0]


def test_real_topolm_files():
    folder = shared_path("positions", "topolm-gpt2-10-10")
    sheets = read_positions_dir(folder)
    expected = [f"layer.{i}.{part}" for i in range(12) for part in ("attn", "mlp")]
    assert list(sheets) == expected
    for name, sheet in sheets.items():
        assert sheet.name == name and sheet.n_units == 784
        assert np.isfinite(sheet.positions).all()
        # Cells of the 28 x 28 lattice TopoLM's init_pos.py lays units on.
        assert sheet.positions.min() == 0 and sheet.positions.max() == 27
        np.testing.assert_array_equal(sheet.positions, np.round(sheet.positions))
        assert sheet.neighborhoods.shape == (100, 361)  # radius-10 sup-norm squares, 19 x 19
        assert sheet.neighborhoods.min() >= 0 and sheet.neighborhoods.max() < 784
    assert load_positions(folder / "layer.5.mlp.pkl", n_units=784).n_units == 784


# --------------------------------------------------------------------------- TDANN
@pytest.mark.parametrize("suffix", [".pkl", ".npz"])
def test_tdann_conv_positions(tmp_path, suffix):
    coords = tdann_layer(tmp_path, "layer2.0", (3, 4, 5), suffix=suffix)
    sheet = read_positions(tmp_path / f"layer2.0{suffix}")
    assert (sheet.layout, sheet.units, sheet.name, sheet.n_units) == ("channel_space", "mm", "layer2.0", 60)
    np.testing.assert_array_equal(sheet.positions, coords)
    # C-order flattening of (C, H, W), as spacetorch's get_flat_indices.
    assert sheet.channel[:20].tolist() == [0] * 20 and sheet.channel[20] == 1
    assert sheet.row[:6].tolist() == [0, 0, 0, 0, 0, 1]
    assert sheet.col[:6].tolist() == [0, 1, 2, 3, 4, 0]
    assert sheet.neighborhoods.shape == (5, 20)


def test_tdann_numpy_scalars_and_fc_layer(tmp_path):
    dims = (np.int64(6),)  # dims pickled from numpy ints, width a numpy float
    path = write_tdann_positions(tmp_path, "fc", dims, np.arange(12.0).reshape(6, 2),
                                 np.array([[0, 1], [4, 5]]), width=np.float64(2.5))
    sheet = read_positions(path)
    assert (sheet.layout, sheet.units, sheet.n_units) == ("channel", "mm", 6)
    assert sheet.channel is None


def test_positions_dir_order_and_names(tmp_path):
    for i in (10, 2, 1):
        topolm_layer(tmp_path, f"layer.{i}.attn", side=3, seed=i)
    (tmp_path / "version.txt").write_text("2\n")
    (tmp_path / "renamed.pkl").write_bytes((tmp_path / "layer.1.attn.pkl").read_bytes())
    sheets = read_positions_dir(tmp_path)
    assert list(sheets) == ["layer.1.attn", "layer.2.attn", "layer.10.attn", "renamed"]
    assert sheets["renamed"].name == "renamed"  # the file stem names the layer
    assert list(positions_files(tmp_path))[-1] == "renamed"


# --------------------------------------------------------------------------- errors
class _Payload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_refuses_foreign_classes_without_running_them(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_Payload(target)))
    with pytest.raises(ToposcopeError, match=r"wants class (posix|os)\.system, which toposcope does not load"):
        read_positions(path)
    assert not target.exists()


def test_refuses_payload_inside_layer_positions(tmp_path):
    target = tmp_path / "pwned"
    path = write_topolm_positions(tmp_path, "layer.0.attn", torch.zeros(2, 2), _Payload(target))
    with pytest.raises(ToposcopeError, match="wants class"):
        read_positions(path)
    assert not target.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_refuses_storage_loaded_unsafely(tmp_path):
    # A storage blob must itself hold tensors only; a pickled function inside is refused.
    class Sneaky:
        def __reduce__(self):
            import torch.storage

            return (torch.storage._load_from_bytes, (pickle.dumps(print),))

    path = tmp_path / "sneaky.pkl"
    path.write_bytes(pickle.dumps(Sneaky()))
    with pytest.raises(ToposcopeError, match="cannot read positions file .*sneaky.pkl"):
        read_positions(path)


def test_not_layer_positions(tmp_path):
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps({"coordinates": [[0, 0]]}))
    with pytest.raises(ToposcopeError, match="holds a dict, not a LayerPositions"):
        read_positions(path)


def test_unknown_format(tmp_path):
    path = tmp_path / "positions.txt"
    path.write_text("0 0\n1 1\n")
    with pytest.raises(ToposcopeError, match=r"positions.txt' is in an unknown format.*supported: .*\.npz"):
        read_positions(path)


def test_missing_file(tmp_path):
    with pytest.raises(ToposcopeError, match="positions file .* does not exist"):
        read_positions(tmp_path / "nope.pkl")


def test_truncated_pickle(tmp_path):
    topolm_layer(tmp_path, "layer.0.attn", side=3)
    path = tmp_path / "layer.0.attn.pkl"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ToposcopeError, match="cannot read positions file .*is it complete"):
        read_positions(path)


def test_npz_without_positions(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, weights=np.zeros(3))
    with pytest.raises(ToposcopeError, match="lacks coordinates, dims"):
        read_positions(path)


def test_dims_disagree_with_coordinates(tmp_path):
    path = write_tdann_positions(tmp_path, "layer1.0", (2, 2, 2), np.zeros((7, 2)), np.zeros((1, 2), int))
    with pytest.raises(ToposcopeError, match=r"dims \(2, 2, 2\) \(8 units\) but 7 coordinates"):
        read_positions(path)


def test_bad_coordinates(tmp_path):
    path = write_tdann_positions(tmp_path, "fc", (4,), np.zeros((4, 3)), np.zeros((1, 2), int))
    with pytest.raises(ToposcopeError, match=r"coordinates of shape \(4, 3\), not \(n_units, 2\)"):
        read_positions(path)
    coords = np.zeros((2, 2))
    coords[1, 0] = np.nan
    path = write_tdann_positions(tmp_path, "fc", (2,), coords, np.zeros((1, 2), int))
    with pytest.raises(ToposcopeError, match="NaN or inf coordinates"):
        read_positions(path)


def test_neighborhoods_out_of_range(tmp_path):
    path = write_tdann_positions(tmp_path, "fc", (3,), np.zeros((3, 2)), np.array([[0, 3]]))
    with pytest.raises(ToposcopeError, match=r"indices from 0 to 3, outside 0..2"):
        read_positions(path)


def test_unit_count_mismatch_states_both_numbers(tmp_path):
    topolm_layer(tmp_path, "layer.0.attn", side=4)
    with pytest.raises(ToposcopeError, match="has 16 units but the layer has 784"):
        load_positions(tmp_path / "layer.0.attn.pkl", n_units=784)


def test_folder_errors(tmp_path):
    with pytest.raises(ToposcopeError, match="has no .pkl or .npz files"):
        read_positions_dir(tmp_path)
    with pytest.raises(ToposcopeError, match="positions folder .* does not exist"):
        read_positions_dir(tmp_path / "missing")
    tdann_layer(tmp_path, "layer1.0", (1, 2, 2))
    tdann_layer(tmp_path, "layer1.0", (1, 2, 2), suffix=".npz")
    with pytest.raises(ToposcopeError, match="has both layer1.0.npz and layer1.0.pkl; keep one"):
        read_positions_dir(tmp_path)
