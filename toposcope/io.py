"""Reading and writing results: atomic netCDF with provenance, streamed responses.

Every write goes to a temporary file beside the target and is renamed into place
only when complete, so an interrupted run never leaves a half-written result.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from toposcope._validation import ToposcopeError

__all__ = ["ResponseStore", "atomic_path", "decode_booleans", "open_responses", "provenance", "read_netcdf",
           "write_netcdf"]

ENGINE = "h5netcdf"
#: Attribute that lists which attributes beside it were booleans. netCDF has no boolean
#: attribute type (h5netcdf refuses them), so they are stored as int8 0 / 1 and named here,
#: and :func:`decode_booleans` turns them back into ``bool`` on reading.
BOOLEAN_ATTRS = "toposcope_boolean_attrs"


def provenance(**attrs: Any) -> dict[str, str]:
    """Provenance attributes: the toposcope version plus ``attrs`` (None dropped)."""
    from toposcope import __version__

    out = {"toposcope_version": __version__}
    out.update({k: _attr(v) for k, v in attrs.items() if v is not None})
    return out


def _attr(value: Any) -> Any:
    if isinstance(value, (str, int, float, np.integer, np.floating, np.bool_)):  # bool is an int
        return value
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any error the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    tmp = Path(tmp)
    try:
        yield tmp
        _readable(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _readable(path: Path) -> None:
    """Give a finished temp file the permissions a plain ``open(..., "w")`` would (mkstemp uses 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def write_netcdf(obj: xr.DataArray | xr.Dataset, path: str | Path, attrs: Mapping[str, Any] | None = None) -> Path:
    """Write ``obj`` to ``path`` atomically, adding provenance ``attrs``.

    Object-dtype coordinates (labels) are stored as strings; boolean attributes
    (of the object or of any of its variables) as int8 0 / 1 listed in the
    ``toposcope_boolean_attrs`` attribute, which :func:`read_netcdf` reads back as ``bool``.
    """
    obj = obj.copy(deep=False)
    obj.attrs = {**obj.attrs, **{k: _attr(v) for k, v in (attrs or {}).items()}}
    obj = _encode_booleans(_strings_for_objects(obj))
    with atomic_path(path) as tmp:
        obj.to_netcdf(tmp, engine=ENGINE)
    return Path(path)


def _boolean_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """``attrs`` with each bool as int8 0 / 1 and their names under :data:`BOOLEAN_ATTRS`."""
    flags = [k for k, v in attrs.items() if isinstance(v, (bool, np.bool_))]
    if not flags:
        return dict(attrs)
    if BOOLEAN_ATTRS in attrs:
        raise ToposcopeError(f"attribute {BOOLEAN_ATTRS!r} is reserved for the names of boolean attributes")
    out = {k: (np.int8(bool(v)) if k in flags else v) for k, v in attrs.items()}
    out[BOOLEAN_ATTRS] = ",".join(flags)
    return out


def _encode_booleans(obj: xr.DataArray | xr.Dataset) -> xr.DataArray | xr.Dataset:
    obj.attrs = _boolean_attrs(obj.attrs)
    variables = obj.variables if isinstance(obj, xr.Dataset) else obj.coords.variables
    for variable in variables.values():
        variable.attrs = _boolean_attrs(variable.attrs)
    return obj


def _decoded(attrs: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(attrs)
    names = out.pop(BOOLEAN_ATTRS, None)
    for name in str(names).split(",") if names is not None else []:
        if name in out:
            out[name] = bool(out[name])
    return out


def decode_booleans(obj: xr.DataArray | xr.Dataset) -> xr.DataArray | xr.Dataset:
    """Turn the attributes that :func:`write_netcdf` stored as int8 back into ``bool``, in place.

    Parameters
    ----------
    obj : xr.DataArray or xr.Dataset
        As opened from a file written by :func:`write_netcdf` or :class:`ResponseStore`.

    Returns
    -------
    xr.DataArray or xr.Dataset
        ``obj``, its attributes and its variables' attributes decoded.
    """
    obj.attrs = _decoded(obj.attrs)
    variables = obj.variables if isinstance(obj, xr.Dataset) else obj.coords.variables
    for variable in variables.values():
        variable.attrs = _decoded(variable.attrs)
    return obj


def read_netcdf(path: str | Path) -> xr.Dataset:
    """Read a result written by :func:`write_netcdf` into memory, booleans decoded.

    Parameters
    ----------
    path : path
        A netCDF file (a DataArray result is the Dataset's one data variable).

    Returns
    -------
    xr.Dataset
        Loaded (the file is closed), with boolean attributes as ``bool``.
    """
    path = Path(path)
    if not path.is_file():
        raise ToposcopeError(f"result file {str(path)!r} does not exist")
    try:
        with xr.open_dataset(path, engine=ENGINE) as handle:
            data = handle.load()
    except (OSError, ValueError) as error:
        raise ToposcopeError(f"cannot read result file {str(path)!r}: {error}") from None
    return decode_booleans(data)


def _strings_for_objects(obj: xr.DataArray | xr.Dataset) -> xr.DataArray | xr.Dataset:
    for name, coord in obj.coords.items():
        if coord.dtype == object:
            obj = obj.assign_coords({name: coord.astype(str)})
    return obj


def open_responses(
    path: str | Path,
    chunks: Mapping[str, int] | None = None,
    coords: Mapping[str, tuple[str, np.ndarray]] | None = None,
) -> xr.DataArray:
    """Open a responses file lazily (dask-backed when ``chunks`` is given).

    Parameters
    ----------
    path : path
        A netCDF written by :func:`write_netcdf` or :class:`ResponseStore`.
    chunks : dict, optional
        Dask chunks, e.g. ``{"stimulus": 256}``; eager when None.
    coords : dict of str to (dim, ndarray), optional
        The coords the file was written with, when the caller still holds them:
        used as they are instead of decoding a second copy from the file (for a
        channel x space layer that copy costs more memory than the streaming).

    Returns
    -------
    xr.DataArray
        dims (stimulus, unit), float32, with stimulus and unit coords.
    """
    path = Path(path)
    if not path.is_file():
        raise ToposcopeError(f"responses file {str(path)!r} does not exist")
    try:
        array = xr.open_dataarray(path, engine=ENGINE, chunks=chunks)
    except (OSError, ValueError) as error:
        raise ToposcopeError(f"cannot read responses file {str(path)!r}: {error}") from None
    # Labels are small and analyses group by them: keep coords in memory, data lazy.
    if coords is not None:
        array = array.drop_vars(list(array.coords)).assign_coords(dict(coords))
    else:
        array = array.assign_coords({name: coord.compute() for name, coord in array.coords.items()})
    if array.dims != ("stimulus", "unit"):
        raise ToposcopeError(f"{str(path)!r} holds dims {array.dims}, not ('stimulus', 'unit')")
    return decode_booleans(array)


class ResponseStore:
    """Write a (stimulus, unit) float32 array to netCDF block by block.

    Peak memory is one block, whatever the total size; the file appears at
    ``path`` only after :meth:`close` (atomic rename), so an interrupted
    extraction leaves nothing behind.

    Parameters
    ----------
    path : Path
        Final netCDF path.
    n_stimuli, n_units : int
        Shape of the full array.
    coords : dict of str to (dim, ndarray)
        Stimulus and unit coordinates.
    attrs : dict
        Provenance attributes.
    rows_per_chunk : int
        HDF5 chunk height; matching the batch size makes each write whole chunks.
    """

    def __init__(
        self,
        path: str | Path,
        n_stimuli: int,
        n_units: int,
        coords: Mapping[str, tuple[str, np.ndarray]],
        attrs: Mapping[str, Any],
        rows_per_chunk: int = 64,
    ) -> None:
        import h5netcdf

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.close(handle)
        self._tmp = Path(tmp)
        self._file = h5netcdf.File(self._tmp, "w")
        self._file.dimensions = {"stimulus": n_stimuli, "unit": n_units}
        rows = max(1, min(rows_per_chunk, n_stimuli))
        # Keep each chunk near 4 MB so that reads by unit blocks stay cheap too.
        cols = max(1, min(n_units, (1 << 20) // rows))
        self._data = self._file.create_variable(
            "responses", ("stimulus", "unit"), np.float32, chunks=(rows, cols)
        )
        for name, (dim, values) in coords.items():
            values = np.asarray(values)
            if values.dtype.kind in "OUS":
                import h5py

                self._file.create_variable(name, (dim,), data=values.astype(str).astype(object),
                                           dtype=h5py.string_dtype())
            else:
                self._file.create_variable(name, (dim,), data=values)
        # xarray needs to know which variables are coordinates of `responses`.
        self._data.attrs["coordinates"] = " ".join(coords)
        for key, value in _boolean_attrs({k: _attr(v) for k, v in attrs.items()}).items():
            self._data.attrs[key] = value

    def write(self, start: int, block: np.ndarray) -> None:
        """Write rows ``start : start + len(block)``; block shape (rows, n_units)."""
        self._data[start : start + len(block), :] = block

    def close(self) -> Path:
        """Finish the file and move it into place."""
        self._file.close()
        _readable(self._tmp)
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file."""
        with contextlib.suppress(Exception):
            self._file.close()
        self._tmp.unlink(missing_ok=True)
