"""The shipped TopoLM recipes, unchanged, end to end: a checkpoint and position files in TopoLM's
released formats, the real localizer texts from ../shared, the layout the recipes' headers ask for.

The weights are random (the released TopoLM weights cannot be downloaded here), so the known
answer is the library itself: the recipe's results equal extract + localize called directly.
"""

from __future__ import annotations

import numpy as np
import pytest
import test_tdann_topolm as released  # writers of TopoLM's checkpoint, position and tokenizer formats
import xarray as xr
from conftest import shared_path

from toposcope.cli import main


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A working folder laid out as the recipes' headers say, with a byte-level GPT-2 tokenizer."""
    import json

    language = shared_path("stimuli", "language")
    root = tmp_path_factory.mktemp("topolm-work")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(released, "BLOCK", 256)  # room for a 12-word sentence, one token per byte
        (root / "topolm").mkdir()
        released.save_topolm_checkpoint(root / "topolm" / "ckpt.pt", released.topolm_state())
    released.topolm_positions(root / "topolm" / "positions")
    (root / "fedorenko10_stimuli").symlink_to(language / "fedorenko10_stimuli")
    (root / "topolm_stimuli").mkdir()
    for name in ("moseley_stimuli.csv", "elli_stimuli.csv"):
        (root / "topolm_stimuli" / name).symlink_to(language / name)
    tokenizer = root / "tokenizer"
    tokenizer.mkdir()
    vocab = {char: i for i, char in enumerate(released._byte_level_chars())}
    vocab["<|endoftext|>"] = 256
    (tokenizer / "vocab.json").write_text(json.dumps(vocab))
    (tokenizer / "merges.txt").write_text("#version: 0.2\n")
    return root


def _run(workdir, monkeypatch, recipe):
    monkeypatch.chdir(workdir)
    out = workdir / f"out-{recipe}"
    assert main(["run", recipe, "-o", str(out), "--quiet", "-O", f"tokenizer={workdir / 'tokenizer'}"]) == 0
    return out


def _direct(workdir, stimuli, contrast):
    from toposcope import extract, load_model
    from toposcope.analysis.localizer import localize
    from toposcope.stimuli import load

    subject = load_model("topolm", checkpoint=str(workdir / "topolm" / "ckpt.pt"),
                         positions=str(workdir / "topolm" / "positions"), tokenizer=str(workdir / "tokenizer"))
    responses = extract(subject, load(stimuli), text_mode="mean", cache=False, progress=False)
    return localize(responses, contrast, fwhm=2.0, alpha=0.05, adjacency="queen")


def _result(out, analysis):
    with xr.open_dataset(next((out / "results" / analysis).glob("*.nc")), engine="h5netcdf") as data:
        return data.load()


def test_shipped_localizer_recipe_runs_as_published(workdir, monkeypatch):
    out = _run(workdir, monkeypatch, "topolm_localizer")
    got = _result(out, "localizer")
    expected = _direct(workdir, f"fedorenko10:{workdir / 'fedorenko10_stimuli'}", "sentences_vs_nonwords")
    np.testing.assert_allclose(got["t"].values, expected["t"].values, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(got["selective"].values, expected["selective"].values)
    assert got.sizes["layers"] == 2 * released.N_LAYER  # every attn and mlp sheet
    report = (out / "report.md").read_text()
    assert "![topolm_localizer](figures/paper/topolm_localizer.png)" in report
    assert sorted(p.name for p in (out / "figures" / "paper").iterdir()) == [
        "topolm_localizer.csv", "topolm_localizer.nc", "topolm_localizer.pdf", "topolm_localizer.png"]


def test_shipped_noun_verb_recipe_runs_as_published(workdir, monkeypatch):
    out = _run(workdir, monkeypatch, "topolm_nouns_verbs")
    for analysis, stimuli in (("nouns_verbs_moseley", "moseley_stimuli.csv"), ("nouns_verbs_elli", "elli_stimuli.csv")):
        got = _result(out, analysis)
        expected = _direct(workdir, str(workdir / "topolm_stimuli" / stimuli), "nouns_vs_verbs")
        np.testing.assert_allclose(got["t"].values, expected["t"].values, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(got["morans_i"].values, expected["morans_i"].values, rtol=1e-6)
    drawn = {p.stem for p in (out / "figures" / "paper").glob("*.png")}
    assert drawn == {"topolm_nouns_verbs", "topolm_localizer"}
