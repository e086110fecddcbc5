"""``toposcope smoothness``, ``dimensionality`` and ``efficiency`` on the shipped demo model, end to end."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from toposcope.cli import main


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    from toposcope.demo.digits import write_digit_stimuli

    folder = tmp_path_factory.mktemp("digits")
    write_digit_stimuli(folder, per_class=5)
    return folder


def read(path):
    with xr.open_dataset(path, engine="h5netcdf") as data:
        return data.load()


def assert_provenance(data, digits):
    assert data.attrs["model"] == "demo/topo" and len(data.attrs["checkpoint_sha256"]) == 64
    assert data.attrs["stimuli"] == str(digits) and len(data.attrs["stimulus_set_sha256"]) == 64
    assert "toposcope_version" in data.attrs


def assert_figures(out):
    for suffix in (".png", ".pdf"):
        assert out.with_suffix(suffix).stat().st_size > 1000


def test_smoothness_writes_curves_scores_and_figure(digits, tmp_path, capsys):
    out = tmp_path / "res" / "smooth.nc"
    assert main(["smoothness", "demo/topo", "--stimuli", str(digits), "-o", str(out), "--quiet", "--bins", "8"]) == 0
    data = read(out)
    assert data.sizes == {"layer": 4, "bin": 8, "shuffle": 20}
    assert list(data["layer"].values) == ["conv1", "conv2", "conv3", "fc1"]
    for name in ("correlation", "sem", "pairs", "chance", "shuffled", "score_toponets", "score_tdann", "distance",
                 "score_toponets_chance", "score_toponets_chance_low", "score_toponets_chance_high",
                 "score_toponets_corrected", "score_toponets_p", "score_tdann_corrected"):
        assert name in data.variables
    assert np.isfinite(data["score_toponets"]).all() and np.isfinite(data["score_tdann"]).all()
    np.testing.assert_allclose(data["score_toponets_corrected"],
                               data["score_toponets"] - data["score_toponets_chance"], atol=1e-12)
    assert int(data["pairs"].sel(layer="fc1").sum()) == 128 * 127 // 2
    assert data.attrs["min_pairs"] == 20 and data.attrs["n_shuffles"] == 20
    assert_provenance(data, digits)
    assert_figures(out)
    printed = capsys.readouterr().out
    fc1 = next(line.split() for line in printed.splitlines() if line.strip().startswith("fc1"))
    # layer, units, TopoNets, chance, band (two cells), corrected, p, TDANN, TDANN corrected
    assert fc1[2] == f"{float(data['score_toponets'].sel(layer='fc1')):.3f}"
    assert fc1[6] == f"{float(data['score_toponets_corrected'].sel(layer='fc1')):+.3f}"
    assert "corrected = score - chance" in printed


def test_a_curve_has_the_same_bin_coords_from_the_cli_and_the_python_api(digits, tmp_path):
    import toposcope
    from toposcope.analysis import smoothness
    from toposcope.analysis.layerwise import smoothness_by_layer

    out = tmp_path / "smooth.nc"
    assert main(["smoothness", "demo/topo", "--stimuli", str(digits), "-o", str(out), "--quiet", "--bins", "6",
                 "--shuffles", "2", "--no-figures", "--layers", "conv3"]) == 0
    from_cli = read(out).sel(layer="conv3")
    responses = toposcope.extract(toposcope.load_model("demo/topo"), str(digits), ["conv3"], progress=False)
    one = smoothness.curve(responses["conv3"], bins=6, n_shuffles=2)
    layers = smoothness_by_layer(responses, 6, n_shuffles=2).sel(layer="conv3")
    for from_api in (one, layers):
        for name in ("bin", "distance", "bin_lower", "bin_upper"):
            assert from_api[name].dtype == from_cli[name].dtype, name
            np.testing.assert_array_equal(from_api[name].values, from_cli[name].values)
    assert from_cli["bin"].dtype == np.int64 and list(from_cli["bin"].values) == list(range(6))
    np.testing.assert_allclose(one["correlation"].values, from_cli["correlation"].values)


def test_smoothness_options_reach_the_scores(digits, tmp_path):
    out = tmp_path / "smooth.nc"
    assert main(["smoothness", "demo/topo", "--stimuli", str(digits), "-o", str(out), "--quiet", "--no-figures",
                 "--layers", "fc1", "--min-pairs", "0", "--shuffles", "5"]) == 0
    data = read(out)
    assert data.sizes["shuffle"] == 5 and data.attrs["min_pairs"] == 0 and data.attrs["shuffles"] == 5


def test_cli_defaults_are_the_library_defaults():
    from toposcope.analysis import smoothness
    from toposcope.cli import smoothness as cli

    assert (cli.BINS, cli.MIN_PAIRS, cli.N_SHUFFLES) == (smoothness.BINS, smoothness.MIN_PAIRS,
                                                         smoothness.N_SHUFFLES)


def test_dimensionality_writes_ed_spectra_and_figure(digits, tmp_path):
    out = tmp_path / "dim.nc"
    assert main(["dimensionality", "demo/topo", "--stimuli", str(digits), "-o", str(out), "--quiet",
                 "--layers", "conv3,fc1"]) == 0
    data = read(out)
    assert list(data["layer"].values) == ["conv3", "fc1"]
    ed = data["effective_dimensionality"].values
    assert np.all(ed >= 1) and np.all(ed <= data["n_units"].values)
    assert data["eigenvalue"].sizes["component"] == 50  # min(50 stimuli, 128 units)
    assert_provenance(data, digits)
    assert_figures(out)


def test_efficiency_prunes_and_downsamples(digits, tmp_path, capsys):
    out = tmp_path / "eff.nc"
    assert main(["efficiency", "demo/topo", "--stimuli", str(digits), "--prune", "0,0.5,0.99",
                 "--downsample", "2", "--layer", "fc1", "-o", str(out)]) == 0
    data = read(out)
    assert data["performance"].dims == ("fraction",) and data["downsampled_performance"].dims == ("factor",)
    assert data.attrs["measure"] == "accuracy" and data.attrs["baseline"] > 0.9
    assert float(data["performance"].sel(fraction=0.99)) < data.attrs["baseline"] - 0.3
    assert int(data["n_parameters"][0]) == 155786 - 96 * 1025 - 96 * 10
    assert data.attrs["classes"] == "number"
    assert_provenance(data, digits)
    assert_figures(out)
    printed = capsys.readouterr().out
    assert "downsampled x2 (75% of units removed" in printed


def test_efficiency_per_layer(digits, tmp_path):
    out = tmp_path / "eff.nc"
    assert main(["efficiency", "demo/topo", "--stimuli", str(digits), "--prune", "0.5", "--per-layer",
                 "--layers", "conv2,fc1", "--no-figures", "-o", str(out)]) == 0
    data = read(out)
    assert data["performance"].dims == ("fraction", "layer") and list(data["layer"].values) == ["conv2", "fc1"]
    assert data.attrs["scope"] == "layer" and not out.with_suffix(".png").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["smoothness", "--layers", "conv9"], "unknown layer 'conv9'"),
        (["smoothness", "--bins", "a,b"], "--bins must be a count"),
        (["smoothness", "--min-pairs", "-1"], "--min-pairs must be 0 or more"),
        (["smoothness", "--shuffles", "0"], "--shuffles must be 1 or more"),
        (["dimensionality", "--stimuli", "nowhere"], "'nowhere' does not exist"),
        (["efficiency", "--prune", "0,1.5"], "between 0 and 1"),
        (["efficiency", "--prune", "0,x"], "--prune must be comma-separated numbers"),
        (["efficiency", "--downsample", "0.5"], "at least 1"),
        (["efficiency", "--downsample", "2", "--layer", "fc2"], "no layer after 'fc2' takes its output"),
        (["efficiency", "--classes", "cat=0"], "category 'digit-0' has no class index"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_output(digits, tmp_path, capsys, argv, message):
    out = tmp_path / "res" / "out.nc"
    command, *options = argv
    if "--stimuli" not in options:
        options += ["--stimuli", str(digits)]
    code = main([command, "demo/topo", *options, "-o", str(out), *(["--quiet"] if command != "efficiency" else [])])
    assert code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0]
    assert not (tmp_path / "res").exists() or not any((tmp_path / "res").iterdir())


def test_too_few_stimuli_is_refused(tmp_path, capsys):
    from toposcope.demo.digits import write_digit_stimuli

    write_digit_stimuli(tmp_path / "two", per_class=1)
    folder = tmp_path / "two"
    for sub in sorted(folder.iterdir())[2:]:
        for image in sub.iterdir():
            image.unlink()
        sub.rmdir()
    out = tmp_path / "dim.nc"
    assert main(["dimensionality", "demo/topo", "--stimuli", str(folder), "-o", str(out), "--quiet"]) == 2
    assert "at least 3 are needed" in capsys.readouterr().err and not out.exists()
