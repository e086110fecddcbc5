"""Result files: boolean attributes survive the netCDF round trip (netCDF has no boolean attribute type)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from toposcope._validation import ToposcopeError
from toposcope.io import (
    BOOLEAN_ATTRS,
    ResponseStore,
    open_responses,
    provenance,
    read_netcdf,
    write_netcdf,
)


def test_boolean_attributes_read_back_as_bool(tmp_path):
    data = xr.Dataset({"t": (("unit",), np.arange(3.0), {"fdr": True, "n": 4})},
                      coords={"unit": ("unit", np.arange(3), {"wraps": np.bool_(False)})},
                      attrs={"trust_checkpoint": True, "exact": False, "seed": 0, "mode": "exact"})
    path = write_netcdf(data, tmp_path / "r.nc", attrs=provenance(force=False, bins=15))
    raw = xr.open_dataset(path, engine="h5netcdf")  # what other netCDF readers see: 0 / 1 and the list
    assert raw.attrs[BOOLEAN_ATTRS] == "trust_checkpoint,exact,force" and int(raw.attrs["trust_checkpoint"]) == 1
    raw.close()
    back = read_netcdf(path)
    assert back.attrs["trust_checkpoint"] is True and back.attrs["exact"] is False and back.attrs["force"] is False
    assert type(back.attrs["seed"]) is not bool and back.attrs["seed"] == 0 and back.attrs["bins"] == 15
    assert back["t"].attrs == {"fdr": True, "n": 4}
    assert back["unit"].attrs == {"wraps": False} and type(back["unit"].attrs["wraps"]) is bool
    assert BOOLEAN_ATTRS not in back.attrs
    # The caller's object is left as it was.
    assert data.attrs["trust_checkpoint"] is True and BOOLEAN_ATTRS not in data.attrs
    assert data["t"].attrs["fdr"] is True


def test_a_dataarray_and_a_response_store_keep_booleans_too(tmp_path):
    array = xr.DataArray(np.ones((2, 3), dtype=np.float32), dims=("stimulus", "unit"), name="responses",
                         coords={"stimulus": ["a", "b"], "unit": np.arange(3)}, attrs={"streamed": True})
    write_netcdf(array, tmp_path / "a.nc")
    assert read_netcdf(tmp_path / "a.nc")["responses"].attrs["streamed"] is True
    store = ResponseStore(tmp_path / "s.nc", 2, 3, {"stimulus": ("stimulus", np.array(["a", "b"])),
                                                    "unit": ("unit", np.arange(3))}, {"streamed": True, "k": 1})
    store.write(0, np.ones((2, 3), dtype=np.float32))
    store.close()
    opened = open_responses(tmp_path / "s.nc")
    assert opened.attrs["streamed"] is True and opened.attrs["k"] == 1


def test_reading_a_missing_or_broken_result_says_which_file(tmp_path):
    with pytest.raises(ToposcopeError, match="does not exist"):
        read_netcdf(tmp_path / "none.nc")
    (tmp_path / "bad.nc").write_bytes(b"not netcdf")
    with pytest.raises(ToposcopeError, match="cannot read result file"):
        read_netcdf(tmp_path / "bad.nc")
    with pytest.raises(ToposcopeError, match="reserved"):
        write_netcdf(xr.Dataset(attrs={"a": True, BOOLEAN_ATTRS: "x"}), tmp_path / "c.nc")
    assert not (tmp_path / "c.nc").exists()
