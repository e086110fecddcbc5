"""The shipped TopoNets Fig. 5A recipe, unchanged, on the real fLOC and Konkle images (slow).

The released TopoNets weights cannot be downloaded here, so the models run with
``-O checkpoint=none`` (the architecture with seeded random weights); what is checked is
that the recipe runs as shipped and its figure holds exactly its results.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from conftest import shared_path

from toposcope.cli import main

pytestmark = pytest.mark.slow


def test_fig5a_recipe_on_the_real_images(tmp_path, monkeypatch):
    # The named sets resolve to their fetched copies under $TOPOSCOPE_CACHE/stimuli.
    cache = tmp_path / "cache"
    (cache / "stimuli").mkdir(parents=True)
    (cache / "stimuli" / "floc").symlink_to(shared_path("stimuli", "floc"))
    (cache / "stimuli" / "konkle").symlink_to(shared_path("stimuli", "konkle_size"))
    monkeypatch.setenv("TOPOSCOPE_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="random weights"):
        assert main(["run", "toponets_fig5a", "-o", str(out), "--quiet", "-O", "checkpoint=none"]) == 0
    with xr.open_dataset(out / "figures" / "paper" / "fig5a_tmaps.nc", engine="h5netcdf") as data:
        data = data.load()
    # fLOC and Konkle analyses merged per model, in the paper's column order.
    assert data["contrast"].values.tolist() == ["faces", "bodies", "places", "small_vs_big", "animate_vs_inanimate"]
    models = [data[f"t_{i}"].attrs["model"] for i in range(3)]
    assert sorted(models) == ["toponets-resnet18-tau0.5", "toponets-resnet18-tau50", "untrained"]
    for i, model in enumerate(models):
        assert data[f"t_{i}"].attrs["layer"] == "layer3.1.conv2" and data.sizes[f"unit_{i}"] == 256  # 16 x 16
        for analysis, contrasts in (("selectivity", ["faces", "bodies", "places"]),
                                    ("selectivity_size_animacy", ["small_vs_big", "animate_vs_inanimate"])):
            with xr.open_dataset(out / "results" / analysis / f"{model}.nc", engine="h5netcdf") as result:
                expected = result["t"].sel(contrast=contrasts).values
            np.testing.assert_array_equal(data[f"t_{i}"].sel(contrast=contrasts).values, expected)
    assert "![fig5a_tmaps](figures/paper/fig5a_tmaps.png)" in (out / "report.md").read_text()
