"""Test suites and their selectivity maps: Student's t and signed -log10 p per unit equal scipy's ttest_ind
(and ttest_rel for paired suites), finite where scipy's p underflows; a planted selective patch shows on the
map; the CSV suite format, the grammar suites and TopoLM's contrasts as suites; bad input refused."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from conftest import shared_path
from scipy import stats

from toposcope._validation import ToposcopeError
from toposcope.analysis.suites import suite_maps
from toposcope.sheet import torus_sheet
from toposcope.stimuli.suites import (
    GRAMMAR_SUITES,
    grammar_suite,
    language_suites,
    load_suite,
    read_suite,
)


def responses_for(suite, values):
    sheet = torus_sheet(values.shape[1])
    coords = {**sheet.unit_coords("layer"), **suite.stimuli.coords()}
    return xr.DataArray(values.astype(np.float32), dims=("stimulus", "unit"), coords=coords)


def planted(suite, effect=1.5, seed=0):
    """64 units (8 x 8 torus); a 3 x 3 patch responds `effect` more to the target condition."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(len(suite.stimuli), 64))
    target = suite.stimuli.labels["condition"] == suite.target
    patch = np.flatnonzero((torus_sheet(64).x < 3) & (torus_sheet(64).y < 3))
    values[np.ix_(target, patch)] += effect
    return responses_for(suite, values), patch


def test_independent_maps_are_scipys_ttest_ind_and_show_the_planted_patch():
    suite = grammar_suite("animacy", n_items=40)
    responses, patch = planted(suite)
    result = suite_maps(responses, suite)
    target = responses.condition.values == "animate"
    a, b = responses.values[target].astype(float), responses.values[~target].astype(float)
    expected = stats.ttest_ind(a, b)
    np.testing.assert_allclose(result["t"].values, expected.statistic, rtol=1e-5)
    np.testing.assert_allclose(result["p"].values, expected.pvalue, rtol=1e-6)
    np.testing.assert_allclose(result["signed_log10_p"].values, -np.log10(expected.pvalue) * np.sign(expected.statistic),
                               rtol=1e-5)
    assert result.attrs["df"] == 78 and result.attrs["target"] == "animate" and result.attrs["test"] == "independent"
    # The patch stands out: its units carry the map's largest values.
    assert set(np.argsort(-result["signed_log10_p"].values)[: len(patch)]) == set(patch)
    assert float(result.wrap_x[0]) == 8.0  # the torus travels with the map


def test_paired_maps_are_scipys_ttest_rel():
    suite = grammar_suite("agreement", n_items=30)
    assert suite.paired
    responses, _ = planted(suite, seed=1)
    result = suite_maps(responses, suite, test="paired")
    items = responses["item"].values
    target = responses.condition.values == "grammatical"
    order = lambda mask: np.argsort(items[mask].astype(int))
    a = responses.values[target][order(target)].astype(float)
    b = responses.values[~target][order(~target)].astype(float)
    expected = stats.ttest_rel(a, b)
    np.testing.assert_allclose(result["t"].values, expected.statistic, rtol=1e-5)
    np.testing.assert_allclose(result["p"].values, expected.pvalue, rtol=1e-6)
    assert result.attrs["df"] == 29 and result.attrs["n_target"] == 30


def test_tiny_p_stays_finite_and_constant_units_are_counted():
    suite = grammar_suite("number", n_items=50)
    rng = np.random.default_rng(2)
    values = rng.normal(size=(100, 16)) * 0.01
    values[suite.stimuli.labels["condition"] == "plural", 0] += 50.0  # scipy's p underflows to 0 here
    values[:, 1] = 3.0
    result = suite_maps(responses_for(suite, values), suite)
    assert stats.ttest_ind(values[::2, 0], values[1::2, 0]).pvalue == 0.0
    assert np.isfinite(result["signed_log10_p"].values[0]) and result["signed_log10_p"].values[0] > 300
    # Exact, by arbitrary precision: p = I_x(df/2, 1/2) with x = df / (df + t^2).
    mpmath = pytest.importorskip("mpmath")
    t0 = float(result["t"].values[0])
    exact = -float(mpmath.log10(mpmath.betainc(49, 0.5, 0, mpmath.mpf(98) / (98 + mpmath.mpf(t0) ** 2),
                                               regularized=True)))
    assert float(result["signed_log10_p"].values[0]) == pytest.approx(exact, rel=1e-6)
    # Where scipy still resolves p, the two agree.
    t = result["t"].values[2:]
    np.testing.assert_allclose(result["signed_log10_p"].values[2:],
                               -np.log10(2 * stats.t.sf(np.abs(t), 98)) * np.sign(t), rtol=1e-4)
    assert result["t"].values[1] == 0 and result["p"].values[1] == 1 and result.attrs["n_constant_units"] == 1


def test_the_csv_suite_format(tmp_path):
    path = tmp_path / "my_suite.csv"
    path.write_text("sentence,condition,item\nthe dog runs,a,1\nthe dogs run,b,1\nthe cat sat,a,2\n"
                    "the cats sat,b,2\nthe bird sang,c,3\n", encoding="utf-8")
    suite = read_suite(path)
    assert (suite.name, suite.target, suite.reference, suite.paired) == ("my_suite", "a", "b", True)
    assert list(suite.stimuli.labels["item"]) == ["1", "1", "2", "2", "3"]
    other = read_suite(path, contrast="c vs a")
    assert (other.target, other.reference, other.paired) == ("c", "a", False)
    assert load_suite(path)[0].stimuli.items == suite.stimuli.items


def test_grammar_suites_change_only_what_they_contrast():
    for name, (target, reference) in GRAMMAR_SUITES.items():
        suite = grammar_suite(name, n_items=20, seed=3)
        assert (suite.target, suite.reference, suite.paired) == (target, reference, True)
        texts = np.asarray(suite.stimuli.items).reshape(-1, 2)
        if name == "intactness":
            assert all(sorted(a.split()) == sorted(b.split()) and a != b for a, b in texts)
        elif name in ("agreement", "animacy", "tense"):
            # one word differs: the verb (agreement, tense) or the subject noun (animacy)
            assert all(sum(x != y for x, y in zip(a.split(), b.split())) == 1 for a, b in texts)
    assert grammar_suite("tense", 5, seed=1).stimuli.items == grammar_suite("tense", 5, seed=1).stimuli.items
    assert len(load_suite("grammar", n_items=4)) == len(GRAMMAR_SUITES)


def test_topolm_contrasts_as_suites():
    folder = shared_path("stimuli", "language")
    suites = language_suites(folder / "moseley_stimuli.csv")
    assert [s.name for s in suites] == ["moseley_nouns_vs_verbs", "moseley_abstract_vs_concrete"]
    assert suites[0].label == "word_class" and (suites[0].target, suites[0].reference) == ("noun", "verb")
    assert [s.name for s in load_suite(f"topolm:{folder / 'fedorenko10_stimuli'}")] == [
        "fedorenko10_sentences_vs_nonwords"]


def test_suite_bad_input(tmp_path):
    one = tmp_path / "one.csv"
    one.write_text("sentence,condition\nthe dog runs,a\nthe cat sat,a\n", encoding="utf-8")
    with pytest.raises(ToposcopeError, match=r"suite 'one' has one condition \('a'\) but a contrast needs two"):
        read_suite(one)
    bad = tmp_path / "bad.csv"
    bad.write_text("text,condition\nthe dog runs,a\n", encoding="utf-8")
    with pytest.raises(ToposcopeError, match="has no column 'sentence'"):
        read_suite(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("sentence,condition\nthe dog runs,a\n,b\n", encoding="utf-8")
    with pytest.raises(ToposcopeError, match="line 3: empty sentence"):
        read_suite(empty)
    two = tmp_path / "two.csv"
    two.write_text("sentence,condition\nx,a\ny,b\n", encoding="utf-8")
    with pytest.raises(ToposcopeError, match="has no condition 'z'"):
        read_suite(two, contrast="z vs a")
    with pytest.raises(ToposcopeError, match="unknown grammar suite 'syntax'"):
        load_suite("grammar:syntax")
    suite = grammar_suite("animacy", n_items=10)
    responses, _ = planted(suite)
    with pytest.raises(ToposcopeError, match="lacks|which the responses lack"):
        suite_maps(responses.drop_vars("condition"), suite)
    with pytest.raises(ToposcopeError, match="unknown test 'welch'"):
        suite_maps(responses, suite, test="welch")
    unpaired = suite_maps(responses.isel(stimulus=slice(0, 19)), suite)  # independent works on any subset
    assert unpaired.attrs["n_target"] == 10
    with pytest.raises(ToposcopeError, match="1 items lack a sentence in one condition"):
        suite_maps(responses.isel(stimulus=slice(0, 19)), suite, test="paired")


def test_suite_and_pairs_csv_share_one_reader(tmp_path):
    from toposcope.stimuli._csv import read_rows
    from toposcope.stimuli.minimal_pairs import read_pairs_csv

    path = tmp_path / "s.csv"
    # A byte-order mark, padded names and values, a short row and a row with an extra cell.
    path.write_bytes("\ufeff sentence , condition\n  a b , x \nc d\ne f,y,extra\n".encode())
    header, rows = read_rows(path)
    assert header == ["sentence", "condition"]
    assert rows == [{"sentence": "a b", "condition": "x"}, {"sentence": "c d", "condition": ""},
                    {"sentence": "e f", "condition": "y"}]
    latin = tmp_path / "latin.csv"
    latin.write_bytes("good,bad\ncaf\xe9,x\n".encode("latin-1"))
    with pytest.raises(ToposcopeError, match=r"^suite file latin.csv is not UTF-8"):
        read_suite(latin)
    with pytest.raises(ToposcopeError, match=r"^latin.csv is not UTF-8"):
        read_pairs_csv(latin)


def test_semantic_suites_change_one_word_of_the_contrasted_kind():
    from toposcope.stimuli import suites as module

    positive = set(module._POSITIVE[0] + module._POSITIVE[1])
    negative = set(module._NEGATIVE[0] + module._NEGATIVE[1])
    kinds = {"sentiment": (positive, negative), "concreteness": (set(module._CONCRETE), set(module._ABSTRACT))}
    assert [s.name for s in load_suite("semantic", n_items=3)] == list(module.SEMANTIC_SUITES)
    for name, (target, reference) in module.SEMANTIC_SUITES.items():
        suite = load_suite(f"semantic:{name}", n_items=40, seed=2)[0]
        assert (suite.target, suite.reference, suite.paired) == (target, reference, True)
        assert list(suite.stimuli.labels["condition"]) == [target, reference] * 40
        words_target, words_reference = kinds[name]
        for a, b in np.asarray(suite.stimuli.items).reshape(-1, 2):
            changed = [(x, y) for x, y in zip(a.split(), b.split()) if x != y]
            assert len(a.split()) == len(b.split()) and len(changed) == 1
            assert changed[0][0] in words_target and changed[0][1] in words_reference
        # Both polarities and both frames occur; a fixed seed gives the same suite.
        assert len({t.split()[-1] for t in suite.stimuli.items}) > 5
        assert module.semantic_suite(name, 5, seed=1).stimuli.items == module.semantic_suite(name, 5, seed=1).stimuli.items
    # The grammar suites are not moved by the semantic ones (separate random streams).
    assert grammar_suite("animacy", 5).stimuli.items == grammar_suite("animacy", 5).stimuli.items
    with pytest.raises(ToposcopeError, match="unknown semantic suite 'syntax'; known: sentiment, concreteness"):
        load_suite("semantic:syntax")


def test_a_missing_suite_file_says_the_format_and_where_published_suites_come_from(tmp_path):
    with pytest.raises(ToposcopeError, match=r"suite file .*absent.csv' does not exist; give a UTF-8 CSV .*"
                                             r"columns sentence, condition .*Topoformer test suites.*'semantic'"):
        load_suite(tmp_path / "absent.csv")
