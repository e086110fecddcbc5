"""Readers for the per-layer unit-position files of TDANN and TopoLM.

Both projects save one ``LayerPositions`` object per topographic layer, in a
folder whose file stems are the layer names (``layer1.0.pkl``, ``layer.3.mlp.pkl``).

TopoLM (epflneuroailab/topolm, ``models/positions.py``)
    A plain ``pickle.dump`` of a dataclass with ``name``, ``coordinates`` (an
    N x 2 float torch tensor), ``neighborhood_indices`` (an M x N 0/1 torch
    tensor: row m marks the units of neighbourhood m) and
    ``neighborhoods_per_batch``. Coordinates are integer cells of a
    sqrt(N) x sqrt(N) lattice, randomly permuted over units (``models/init_pos.py``),
    so they are in lattice steps, not millimetres: the sheet gets ``units="grid"``
    but no ``grid`` shape, because unit ``i`` is not at row ``i // w``.

TDANN (neuroailab/TDANN, ``spacetorch/models/positions.py``)
    The same idea with ``name``, ``dims`` (C, H, W for a conv layer, (N,) for a
    linear one), ``coordinates`` (N x 2 numpy array, millimetres of simulated
    cortex), ``neighborhood_indices`` (P x Q numpy array of unit indices) and
    ``neighborhood_width`` (mm). Saved either pickled (``.pkl``) or with
    ``np.savez`` (``.npz``, the format of the released demo positions). Units
    are numbered in the C-order flattening of a (C, H, W) activation.

Pickles are read with a restricted unpickler: it builds the ``LayerPositions``
as a plain stand-in object (whatever module the pickle names), rebuilds torch
tensors and numpy arrays, and refuses every other class, so neither project
needs to be installed and a positions file cannot run code.
"""

from __future__ import annotations

import io
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np

from toposcope._validation import ToposcopeError, check_dir, check_file
from toposcope.sheet.geometry import CorticalSheet, channel_space_sheet

__all__ = ["SUFFIXES", "load_positions", "positions_files", "read_positions", "read_positions_dir"]

#: Suffixes of the position files this module reads.
SUFFIXES = (".pkl", ".npz")

FORMATS = "TopoLM/TDANN LayerPositions pickle (.pkl) or TDANN .npz"

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = b"\x80"


# --------------------------------------------------------------------------- unpickling
class _LayerPositions:
    """Stand-in for either project's ``LayerPositions``: keeps the pickled fields."""


def _tensor_from_bytes(data: bytes) -> Any:
    """Replacement for ``torch.storage._load_from_bytes`` that loads tensors only.

    Plain-pickled tensors carry their storage as bytes in torch's legacy save
    format; the original function unpickles those with ``weights_only=False``.
    """
    import torch

    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


class _Refused(Exception):
    """Raised inside unpickling for a global the file may not load."""


def _allowed_globals() -> dict[tuple[str, str], Any]:
    import collections

    import torch._utils

    reconstruct = np.ndarray.__reduce__(np.zeros(0))[0]
    scalar = np.float64(0).__reduce__()[0]
    allowed: dict[tuple[str, str], Any] = {
        ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch.storage", "_load_from_bytes"): _tensor_from_bytes,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    # numpy 1 pickles name numpy.core, numpy 2 pickles numpy._core; both load here.
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = reconstruct
        allowed[(module, "scalar")] = scalar
    return allowed


class _PositionsUnpickler(pickle.Unpickler):
    """Unpickles ``LayerPositions`` with tensors and arrays, and nothing else."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        if name == "LayerPositions":
            # TopoLM pickles name "positions" (or "__main__"), TDANN
            # "spacetorch.models.positions"; the stand-in only stores fields.
            return _LayerPositions
        found = self._allowed.get((module, name))
        if found is None:
            raise _Refused(f"{module}.{name}")
        return found


def _read_pickle(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as stream:
            obj = _PositionsUnpickler(stream).load()
    except _Refused as refused:
        raise ToposcopeError(
            f"positions file {str(path)!r} wants class {refused}, which toposcope does not load "
            "(for safety it unpickles only LayerPositions, tensors and arrays); "
            f"give a {FORMATS}"
        ) from None
    except Exception as error:  # noqa: BLE001 - any decoding error becomes one line
        raise ToposcopeError(
            f"cannot read positions file {str(path)!r} ({type(error).__name__}: "
            f"{str(error).splitlines()[0][:120] if str(error) else 'no detail'}); is it complete?"
        ) from None
    if not isinstance(obj, _LayerPositions):
        raise ToposcopeError(
            f"positions file {str(path)!r} holds a {type(obj).__name__}, not a LayerPositions; "
            f"give a {FORMATS}"
        )
    return dict(vars(obj))


def _read_npz(path: Path) -> dict[str, Any]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            fields = {key: archive[key] for key in archive.files}
    except Exception as error:  # noqa: BLE001 - any decoding error becomes one line
        raise ToposcopeError(
            f"cannot read positions file {str(path)!r} as .npz ({type(error).__name__}: "
            f"{str(error).splitlines()[0][:120] if str(error) else 'no detail'}); give a {FORMATS}"
        ) from None
    missing = [k for k in ("coordinates", "dims") if k not in fields]
    if missing:
        raise ToposcopeError(
            f"positions file {str(path)!r} lacks {', '.join(missing)} "
            f"(has {', '.join(sorted(fields))}); give a {FORMATS}"
        )
    # np.savez stores the string name and the float width as 0-d arrays.
    for key in ("name", "neighborhood_width"):
        if key in fields and np.ndim(fields[key]) == 0:
            fields[key] = fields[key][()]
    return fields


# --------------------------------------------------------------------------- to sheets
def _as_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _coordinates(fields: dict[str, Any], path: Path) -> np.ndarray:
    if "coordinates" not in fields:
        raise ToposcopeError(f"positions file {str(path)!r} has no coordinates; give a {FORMATS}")
    coords = _as_numpy(fields["coordinates"]).astype(np.float64)
    if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) == 0:
        raise ToposcopeError(
            f"positions file {str(path)!r} has coordinates of shape {coords.shape}, "
            "not (n_units, 2)"
        )
    if not np.isfinite(coords).all():
        raise ToposcopeError(f"positions file {str(path)!r} has NaN or inf coordinates; remake it")
    return coords


def _mask_to_indices(mask: np.ndarray) -> np.ndarray:
    """(M, N) 0/1 rows -> (M', k) unit indices; empty rows dropped, short rows padded with -1."""
    rows = [np.flatnonzero(row) for row in mask]
    rows = [row for row in rows if len(row)]
    if not rows:
        return np.zeros((0, 0), dtype=np.int64)
    width = max(len(row) for row in rows)
    out = np.full((len(rows), width), -1, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def _neighborhoods(
    fields: dict[str, Any], n_units: int, path: Path, as_mask: bool
) -> np.ndarray | None:
    value = fields.get("neighborhood_indices")
    if value is None:
        return None
    array = _as_numpy(value)
    if array.size == 0:
        return None
    if array.ndim != 2:
        raise ToposcopeError(
            f"positions file {str(path)!r} has neighborhood_indices of shape {array.shape}, not 2-D"
        )
    binary = array.shape[1] == n_units and bool(((array == 0) | (array == 1)).all())
    if as_mask and binary:
        return _mask_to_indices(array)
    array = array.astype(np.int64)
    if array.min() < 0 or array.max() >= n_units:
        raise ToposcopeError(
            f"positions file {str(path)!r} has neighbourhood unit indices from {array.min()} to "
            f"{array.max()}, outside 0..{n_units - 1}; the file is inconsistent"
        )
    return array


def _name(fields: dict[str, Any], path: Path) -> str:
    name = fields.get("name")
    return str(name) if name is not None and str(name) else path.stem


def _tdann_sheet(fields: dict[str, Any], path: Path) -> CorticalSheet:
    coords = _coordinates(fields, path)
    dims = tuple(int(d) for d in np.ravel(_as_numpy(fields["dims"])))
    if int(np.prod(dims)) != len(coords):
        raise ToposcopeError(
            f"positions file {str(path)!r} has dims {dims} ({int(np.prod(dims))} units) but "
            f"{len(coords)} coordinates; the file is inconsistent"
        )
    name = _name(fields, path)
    neighborhoods = _neighborhoods(fields, len(coords), path, as_mask=False)
    if len(dims) == 3:
        return channel_space_sheet(*dims, positions=coords, units="mm", name=name,
                                   neighborhoods=neighborhoods)
    if len(dims) == 1:
        return CorticalSheet(positions=coords, units="mm", layout="channel",
                             neighborhoods=neighborhoods, name=name)
    raise ToposcopeError(
        f"positions file {str(path)!r} has dims {dims}; TDANN positions have (C, H, W) or (N,)"
    )


def _topolm_sheet(fields: dict[str, Any], path: Path) -> CorticalSheet:
    coords = _coordinates(fields, path)
    neighborhoods = _neighborhoods(fields, len(coords), path, as_mask=True)
    return CorticalSheet(positions=coords, units="grid", layout="channel",
                         neighborhoods=neighborhoods, name=_name(fields, path))


def read_positions(path: str | Path) -> CorticalSheet:
    """Read one TopoLM or TDANN positions file into a :class:`CorticalSheet`.

    The format is told by content (a zip archive is ``.npz``, a protocol-2+
    pickle is ``LayerPositions``) and, within pickles, by the fields: TDANN's
    carry ``dims``, TopoLM's do not.

    Parameters
    ----------
    path : str or Path
        A ``.pkl`` or ``.npz`` positions file.

    Returns
    -------
    CorticalSheet
        ``positions`` shape (n_units, 2) as stored (x first). TDANN conv layers:
        ``layout="channel_space"``, ``units="mm"``, ``channel``/``row``/``col``
        from ``dims``. TDANN linear layers and TopoLM layers: ``layout="channel"``;
        TopoLM ``units="grid"`` (lattice steps). ``neighborhoods`` shape
        (n_neighborhoods, k) of unit indices; TopoLM's 0/1 masks are turned into
        indices, with -1 padding rows shorter than the longest (TopoLM's own
        files have equal-sized neighbourhoods, so no padding). ``name`` is the
        stored layer name.
    """
    path = check_file("positions file", path, f"give a {FORMATS}")
    with open(path, "rb") as stream:
        head = stream.read(4)
    if head == _ZIP_MAGIC:
        return _tdann_sheet(_read_npz(path), path)
    if head[:1] == _PICKLE_PROTO or path.suffix == ".pkl":
        fields = _read_pickle(path)
        return _tdann_sheet(fields, path) if "dims" in fields else _topolm_sheet(fields, path)
    raise ToposcopeError(
        f"positions file {str(path)!r} is in an unknown format (starts with {head!r}); "
        f"supported: {FORMATS}"
    )


def _natural_key(name: str) -> list[Any]:
    # layer.2 before layer.10, as the layers run.
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def positions_files(folder: str | Path) -> dict[str, Path]:
    """The position files of a folder, keyed by layer name (file stem), in layer order.

    Parameters
    ----------
    folder : str or Path
        A TDANN or TopoLM positions folder (``layer1.0.npz``, ``layer.0.attn.pkl``, ...).

    Returns
    -------
    dict of str to Path
        Naturally sorted by stem (``layer.2`` before ``layer.10``). Other files
        (``version.txt``) are ignored.
    """
    folder = check_dir("positions folder", folder, "give the folder of per-layer position files")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix not in SUFFIXES or not path.is_file():
            continue
        if path.stem in found:
            raise ToposcopeError(
                f"positions folder {str(folder)!r} has both {found[path.stem].name} and "
                f"{path.name}; keep one file per layer"
            )
        found[path.stem] = path
    if not found:
        raise ToposcopeError(
            f"positions folder {str(folder)!r} has no {' or '.join(SUFFIXES)} files; "
            "give the folder holding one positions file per layer"
        )
    return {stem: found[stem] for stem in sorted(found, key=_natural_key)}


def read_positions_dir(folder: str | Path) -> dict[str, CorticalSheet]:
    """Read every positions file of a folder, keyed by layer name (file stem).

    As in TDANN's and TopoLM's ``NetworkPositions.load_from_dir``, the layer
    name is the file stem, not the name stored inside.

    Returns
    -------
    dict of str to CorticalSheet
        In layer order; see :func:`read_positions` for each sheet.
    """
    files = positions_files(folder)
    return {stem: read_positions(path).with_name(stem) for stem, path in files.items()}


def load_positions(path: str | Path, n_units: int | None = None) -> CorticalSheet:
    """Read a positions file into a :class:`CorticalSheet`.

    Supports TopoLM's pickled ``LayerPositions`` (read without TopoLM installed)
    and TDANN's per-layer position files (see the module docstring).

    Parameters
    ----------
    path : str or Path
        The positions file.
    n_units : int, optional
        The unit count of the layer the positions are for; a mismatch is an error
        that states both numbers.

    Returns
    -------
    CorticalSheet
        ``.positions`` has shape (n_units, 2).
    """
    path = check_file("positions file", path, "give the positions file of this layer")
    sheet = read_positions(path)
    if n_units is not None and sheet.n_units != n_units:
        raise ToposcopeError(
            f"positions file {str(path)!r} has {sheet.n_units} units but the layer has "
            f"{n_units}; use the positions file made for this layer"
        )
    return sheet
