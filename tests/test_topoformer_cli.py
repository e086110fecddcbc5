"""``toposcope tgi`` and ``toposcope components`` end to end on a Topoformer (random weights, a config and a
tokenizer file), the topoformer_suites recipe with its figures on in-process models, and bad input on the
command line."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import xarray as xr

from toposcope import load_model
from toposcope.cli import main
from toposcope.models.demo_lm import word_tokenizer
from toposcope.stimuli.grammar import LEXICON

HIDDEN = 64


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("topoformer")
    tokenizer = word_tokenizer(sorted({w for ws in LEXICON.values() for w in ws}))
    tokenizer.save_pretrained(folder / "tokenizer")
    config = {"hidden_size": HIDDEN, "src_vocab_size": len(tokenizer), "max_length": 48, "sq": 0.3, "sr": 0.3,
              "num_hidden_layers": 1, "forward_expansion": 2}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def read(path):
    with xr.open_dataset(path, engine="h5netcdf") as data:
        return data.load()


def cli_model(files):
    return ["topoformer/classifier", "-O", f"config={files / 'config.json'}", "-O", f"tokenizer={files / 'tokenizer'}"]


def test_cli_tgi_and_components(files, tmp_path, capsys):
    out = tmp_path / "tgi.nc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random weights
        assert main(["tgi", *cli_model(files), "--stimuli", "grammar:80", "-o", str(out), "--quiet",
                     "--max-dist", "0.2,0.4"]) == 0
        data = read(out)
        assert list(data["max_dist"].values) == [0.2, 0.4] and data.sizes["layer"] == 5
        # The locally connected output projection is topographic from the start; the plain projections are not.
        assert float(data["tgi"].sel(layer="encoder.layers.0.attention.output_projection")) > 0.2
        assert abs(float(data["tgi"].sel(layer="encoder.layers.0.attention.head.query"))) < 0.1
        assert out.with_suffix(".png").stat().st_size > 1000 and "TGI" in capsys.readouterr().out
        comp = tmp_path / "components.nc"
        assert main(["components", *cli_model(files), "--stimuli", "grammar:80", "-o", str(comp), "--quiet",
                     "--n-components", "4", "--layers", "encoder.layers.0.attention.output_projection"]) == 0
    data = read(comp)
    assert data["loadings"].sizes == {"component": 4, "unit": HIDDEN} and "wrap_x" in data.coords
    assert data["scores"].sizes == {"layers": 1, "stimulus": 80, "component": 4}
    assert comp.with_suffix(".pdf").stat().st_size > 1000


def test_cli_bad_input(files, tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["tgi", *cli_model(files), "--stimuli", "grammar:30", "-o", str(tmp_path / "a.nc"),
                     "--quiet", "--max-dist", "0.5,1.5"]) == 2
        assert "--max-dist must be a fraction of the map side in (0, 1]" in capsys.readouterr().err
        assert main(["components", *cli_model(files), "--stimuli", "grammar:10", "-o", str(tmp_path / "b.nc"),
                     "--quiet", "--n-components", "20"]) == 2
        assert "--n-components" in capsys.readouterr().err
    assert main(["tgi", "topoformer", "--stimuli", "grammar:10", "-o", str(tmp_path / "c.nc")]) == 2
    assert "needs its settings; pass -O config=" in capsys.readouterr().err
    assert main(["tgi", "topoformer/classifier", "--stimuli", "grammar:10", "-o", str(tmp_path / "c.nc")]) == 2
    assert "needs its tokenizer: pass -O tokenizer=PATH" in capsys.readouterr().err
    assert not (tmp_path / "a.nc").exists() and not (tmp_path / "b.nc").exists()


@pytest.mark.slow
def test_recipe_with_in_process_models_writes_the_topoformer_figures(files, tmp_path):
    from toposcope.figures import build_figures
    from toposcope.recipes import run_recipe
    from toposcope.recipes.schema import SHIPPED

    recipe = tmp_path / "suites.toml"
    source = (SHIPPED / "topoformer_suites.toml").read_text(encoding="utf-8")
    recipe.write_text(source.replace('n_items = 60', 'n_items = 8').replace('sentences = "grammar"',
                                                                            'sentences = "grammar:60"'),
                      encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = {name: load_model("topoformer/classifier", config=str(files / "config.json"),
                                   tokenizer=str(files / "tokenizer"), sq=w, sr=w)
                  for name, w in (("topo", 0.3), ("control", -1))}
    run_recipe(recipe, tmp_path / "out", models=models, progress=False, figures=False)
    suites = read(next((tmp_path / "out" / "results" / "suites").glob("topo*.nc")))
    assert suites.sizes["suite"] == 6 and suites.sizes["unit"] == 5 * HIDDEN
    written = {p.name for p in build_figures(tmp_path / "out")}
    for stem in ("topoformer_tgi.png", "topoformer_tgi.csv", "topoformer_components.nc", "topoformer_suites.nc"):
        assert stem in written
    assert any(name.startswith("topoformer_suites_") and name.endswith(".png") for name in written)
    import pandas as pd

    table = pd.read_csv(tmp_path / "out" / "figures" / "paper" / "topoformer_tgi.csv")
    projection = table[table.layer.str.endswith("output_projection")].set_index("model")["tgi"]
    assert len(projection) == 2 and np.ptp(projection.values) > 0.2  # topographic vs control
