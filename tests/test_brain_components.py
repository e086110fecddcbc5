"""Brain alignment of components on planted data: model and brain share two latent sentence components, which
align (|r| > 0.9, permutation p at its floor) while a shuffled brain does not; the long-table reader builds the
sentence x voxel matrix; different sentence sets and missing data are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from toposcope._validation import ToposcopeError
from toposcope.analysis.components import component_maps
from toposcope.brain.components import align_components, read_sentence_brain
from toposcope.sheet import torus_sheet

N_SENTENCES = 300


def planted(seed=0):
    """Two latent sentence components drive a 64-unit model layer and 40 voxels, plus noise."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(N_SENTENCES, 2)) * [3.0, 2.0]
    sentences = np.asarray([f"sentence number {i}" for i in range(N_SENTENCES)], dtype=object)
    model = latent @ rng.normal(size=(2, 64)) + rng.normal(0, 0.5, (N_SENTENCES, 64))
    brain = latent @ rng.normal(size=(2, 40)) + rng.normal(0, 0.5, (N_SENTENCES, 40))
    model = xr.DataArray(model.astype(np.float32), dims=("stimulus", "unit"),
                         coords={**torus_sheet(64).unit_coords("layer"), "sentence": ("stimulus", sentences)})
    order = rng.permutation(N_SENTENCES)  # the brain lists the sentences in another order
    brain = xr.DataArray(brain[order], dims=("stimulus", "voxel"),
                         coords={"sentence": ("stimulus", sentences[order]),
                                 "x": ("voxel", rng.uniform(-60, 60, 40)), "y": ("voxel", rng.uniform(-90, 60, 40))})
    return model, brain, latent


def test_planted_shared_components_align():
    model, brain, _ = planted()
    result = align_components(component_maps(model, n_components=5), brain, n_components=3, permutations=199)
    assert (np.abs(result["matched_r"].values[:2]) > 0.9).all()
    assert (result["matched_p"].values[:2] == 1 / 200).all()
    np.testing.assert_array_equal(result["best_match"].values[:2], [1, 2])
    assert (np.abs(result["best_r"].values[:2]) > 0.9).all() and (result["best_p"].values[:2] == 1 / 200).all()
    # Brain loadings keep the voxel coords for drawing; the third (noise) component does not align.
    assert result["brain_loadings"].sizes == {"brain_component": 3, "voxel": 40} and "x" in result["brain_loadings"].coords
    assert abs(result["matched_r"].values[2]) < 0.3
    # Responses work as the model input too (components computed here), same answer.
    again = align_components(model, brain, n_components=3, permutations=0)
    np.testing.assert_allclose(np.abs(again["r"].values), np.abs(result["r"].values), atol=1e-6)
    assert np.isnan(again["matched_p"].values).all()


def test_a_shuffled_brain_does_not_align():
    model, brain, _ = planted(seed=1)
    shuffled = brain.copy(data=np.random.default_rng(5).permutation(brain.values))
    result = align_components(model, shuffled, n_components=2, permutations=199, seed=3)
    assert (np.abs(result["matched_r"].values) < 0.2).all() and (result["matched_p"].values > 0.01).all()


def test_the_long_table_reader(tmp_path):
    _, brain, _ = planted(seed=2)
    rows = [{"UID": 7, "roi": f"v{v}", "sentence": s, "response_target": float(brain.values[i, v]),
             "x": float(brain.x[v]), "y": float(brain.y[v])}
            for i, s in enumerate(brain.sentence.values) for v in range(brain.sizes["voxel"])]
    table = pd.DataFrame(rows)
    path = tmp_path / "brain.csv"
    pd.concat([table, table.assign(response_target=table.response_target + 1.0)]).to_csv(path, index=False)
    read = read_sentence_brain(path)
    assert read.dims == ("stimulus", "voxel") and read.sizes == {"stimulus": N_SENTENCES, "voxel": 40}
    np.testing.assert_allclose(read.values, brain.values + 0.5)  # repetitions averaged
    assert list(read.sentence.values[:3]) == list(brain.sentence.values[:3]) and read.voxel.values[0] == "7:v0"
    np.testing.assert_allclose(read.x.values, brain.x.values)


def test_alignment_bad_input(tmp_path):
    model, brain, _ = planted(seed=3)
    with pytest.raises(ToposcopeError, match=r"different sentences \(10 only in the model, 0 only in the brain"):
        align_components(model, brain.isel(stimulus=slice(10, None)), n_components=2)
    with pytest.raises(ToposcopeError, match="does not exist; sentence-level fMRI is not installed.*drive_suppress"):
        read_sentence_brain(tmp_path / "nowhere.csv")
    (tmp_path / "bad.csv").write_text("text,roi,response_target\na,1,2.0\n", encoding="utf-8")
    with pytest.raises(ToposcopeError, match="has no column 'sentence' .columns: text, roi, response_target"):
        read_sentence_brain(tmp_path / "bad.csv")
    with pytest.raises(ToposcopeError, match="no stimulus coord 'sentence'; pass model_sentences="):
        align_components(model.drop_vars("sentence"), brain)
    with pytest.raises(ToposcopeError, match=r"dims \('stimulus', 'voxel'\)"):
        align_components(model, brain.rename(voxel="unit"))


def test_the_reader_takes_the_public_release_layout(tmp_path):
    # The layout of Tuckute et al. 2024's brain-lang-data_participant_20230728.csv: one row per participant
    # (target_UID), region (roi) and sentence (item_id, sentence), condition cond (B baseline, D / S drive and
    # suppress for other participants), the response in response_target; lang_LH_netw is the fROIs' mean.
    from toposcope.brain.components import TUCKUTE2024_BASELINE

    rng = np.random.default_rng(4)
    train = [int(u) for u in TUCKUTE2024_BASELINE["target_UID"]]
    frois = list(TUCKUTE2024_BASELINE["roi"])
    sentences = [f"baseline sentence {i}" for i in range(12)]
    truth = rng.normal(size=(len(sentences), len(train), len(frois)))
    rows = []
    for i, text in enumerate(sentences):
        for p, uid in enumerate(train):
            for r, roi in enumerate(frois + ["lang_LH_netw"]):
                value = truth[i, p].mean() if roi == "lang_LH_netw" else truth[i, p, r]
                rows.append({"item_id": i, "sentence": text, "target_UID": uid, "roi": roi, "response_target": value,
                             "response_target_non_norm": 3 * value, "cond": "B", "cond_approach": "B",
                             "trial_num": i})
    for uid in (797, 841):  # evaluation participants: drive and suppress sentences, plus a few baseline ones
        for k, cond in enumerate(("D", "S", "B")):
            rows.append({"item_id": 1000 + k, "sentence": f"other {k}", "target_UID": uid, "roi": frois[0],
                         "response_target": 9.0, "response_target_non_norm": 9.0, "cond": cond,
                         "cond_approach": f"{cond}_search", "trial_num": k})
    path = tmp_path / "brain-lang-data_participant_20230728.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    brain = read_sentence_brain(path, keep=TUCKUTE2024_BASELINE)
    assert brain.sizes == {"stimulus": 12, "voxel": 25}
    assert list(brain.sentence.values) == sentences
    assert list(brain.voxel.values[:2]) == ["848:lang_LH_IFGorb", "848:lang_LH_IFG"]
    np.testing.assert_allclose(brain.values, truth.reshape(12, 25))
    # Without keep every participant, region and condition is read (NaN where one was not shown a sentence).
    everything = read_sentence_brain(path)
    assert everything.sizes == {"stimulus": 15, "voxel": 32} and np.isnan(everything.values).any()
    with pytest.raises(ToposcopeError, match=r"no row has cond in \['X'\]; its values are \['B', 'D', 'S'\]"):
        read_sentence_brain(path, keep={"cond": "X"})
    with pytest.raises(ToposcopeError, match="has no column 'session' to keep rows by"):
        read_sentence_brain(path, keep={"session": 1})
