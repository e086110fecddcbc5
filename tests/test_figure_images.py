"""Image comparison of the main figure kinds against committed baselines (a layout regression fails).

Each figure is drawn from planted, seeded data and compared with the PNG in
``tests/baseline_images`` by matplotlib's RMS image comparison. After an intended
change of a figure, look at the new image, then regenerate the baselines with
``TOPOSCOPE_UPDATE_BASELINES=1 pytest tests/test_figure_images.py`` and commit them.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import xarray as xr
from matplotlib.testing.compare import compare_images

matplotlib.use("Agg")

BASELINES = Path(__file__).parent / "baseline_images"
#: RMS difference (0-255 grey levels) tolerated: anti-aliasing, not layout.
TOLERANCE = 2.0


def _maps(layer: str, h: int, w: int, seed: int) -> xr.DataArray:
    rows, cols = np.divmod(np.arange(h * w), w)
    rng = np.random.default_rng(seed)
    contrasts = ["faces", "bodies", "places"]
    values = rng.normal(0, 1.5, (3, h * w))
    values[0] += 12 * np.exp(-((cols - w / 3) ** 2 + (rows - h / 2) ** 2) / 6.0)
    values[2] += 8 * np.exp(-((cols - 2 * w / 3) ** 2 + (rows - h / 3) ** 2) / 5.0)
    return xr.DataArray(values, dims=("contrast", "unit"), name="t",
                        coords={"contrast": contrasts, "x": ("unit", cols), "y": ("unit", rows),
                                "layer": ("unit", [layer] * (h * w))})


def _tmaps():
    from toposcope.plot.maps import plot_tmaps

    return plot_tmaps(xr.concat([_maps("layer1", 8, 8, 0), _maps("layer4", 8, 16, 1)], dim="unit"))


def _figure5a():
    from toposcope.plot.maps import plot_figure5a

    return plot_figure5a({"TopoNet": _maps("layer4", 8, 16, 1), "untrained": _maps("layer4", 8, 16, 5) * 0.2},
                         patches={"threshold": 6})


def _figure5a_wrapped():
    """Seven categories for two models: more than fit side by side, so they wrap to a second block."""
    from toposcope.plot.maps import plot_figure5a

    names = [f"digit-{d}" for d in range(7)]
    maps = {}
    for model, seed in (("TopoNet", 1), ("baseline", 5)):
        planted = [_maps("layer4", 8, 16, seed + k).isel(contrast=k % 3) for k in range(7)]
        maps[model] = xr.concat(planted, dim="contrast").assign_coords(contrast=names)
    return plot_figure5a(maps, contrasts=names)


def _sheet():
    from matplotlib.figure import Figure

    from toposcope.plot.sheet import plot_sheet

    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 10, (600, 2))
    values = xr.DataArray(np.sin(xy[:, 0] / 2) + np.cos(xy[:, 1] / 3), dims="unit", name="preferred",
                          coords={"x": ("unit", xy[:, 0]), "y": ("unit", xy[:, 1])}, attrs={"sheet_units": "mm"})
    ax = Figure(figsize=(4, 3.6), layout="constrained").add_subplot()
    plot_sheet(values, ax=ax, title="scatter sheet (mm)")
    return ax.figure


def _smoothness_layers(n_layers: int) -> xr.Dataset:
    """A smoothness_by_layer Dataset with planted curves: correlation decays faster in later layers."""
    n_bins = 8
    names = ["conv1"] + [f"layer{1 + i // 4}.{(i // 2) % 2}.conv{1 + i % 2}" for i in range(n_layers - 1)]
    edges = np.linspace(1.0, 9.0, n_bins + 1)
    distance = np.tile((edges[:-1] + edges[1:]) / 2, (n_layers, 1))
    depth = np.linspace(0.05, 0.6, n_layers)[:, None]
    correlation = depth * np.exp(-(distance - 1.0) / 1.5) + 0.02 * np.sin(distance + depth * 10)
    pairs = np.tile(np.array([400, 900, 800, 600, 400, 200, 60, 8]), (n_layers, 1))
    level = np.full_like(correlation, 0.03)
    high = depth[:, 0] * 0.85
    return xr.Dataset(
        {"correlation": (("layer", "bin"), correlation), "sem": (("layer", "bin"), np.full_like(correlation, 0.02)),
         "pairs": (("layer", "bin"), pairs), "chance": (("layer", "bin"), level),
         "chance_sem": (("layer", "bin"), np.full_like(correlation, 0.015)),
         "score_toponets": ("layer", high + 0.02), "score_toponets_chance": ("layer", np.full(n_layers, 0.06)),
         "score_toponets_chance_low": ("layer", np.full(n_layers, 0.03)),
         "score_toponets_chance_high": ("layer", np.full(n_layers, 0.1))},
        coords={"layer": names, "bin": np.arange(n_bins), "distance": (("layer", "bin"), distance)},
        attrs={"min_pairs": 20, "n_shuffles": 20, "level": 0.95, "distance_units": "grid units"})


def _smoothness_overlay():
    from toposcope.plot.layers import plot_smoothness_layers

    return plot_smoothness_layers(_smoothness_layers(4), title="4 layers: one panel of curves")


def _smoothness_small_multiples():
    from toposcope.plot.layers import plot_smoothness_layers

    return plot_smoothness_layers(_smoothness_layers(21), title="21 layers: one panel per layer")


def _alignment_competence():
    """The over-training scatter from an in-memory run: three sizes x seven steps, two benchmarks."""
    from toposcope.figures._run import Run
    from toposcope.figures.trajectory import alignment_figure

    run = Run(Path("planted"))
    steps = (0, 1, 8, 64, 512, 4000, 143000)
    rng = np.random.default_rng(7)
    for gain, size in ((0.4, "pythia-14m"), (0.7, "pythia-160m"), (1.0, "pythia-1.4b")):
        for step in steps:
            model = f"{size}-step{step}"
            progress = np.log1p(step) / np.log1p(steps[-1])
            run.attrs[model] = {"trajectory": size, "step": step}
            accuracy = xr.Dataset({"accuracy_overall": ((), 0.5 + 0.4 * gain * progress + rng.normal(0, 0.01))})
            run.analyses.setdefault("blimp", {})[model] = accuracy
            for name, benchmark, offset in (("blank2014", "Blank2014-linear-shuffle", 0.05),
                                            ("pereira2018", "Pereira2018.243sentences-linear-shuffle", 0.1)):
                score = offset + 0.3 * gain * np.sin(2.2 * progress) + rng.normal(0, 0.01)
                run.analyses.setdefault(name, {})[model] = xr.Dataset({"score": ((), score)},
                                                                      attrs={"benchmark": benchmark})
    run.kinds = {"blimp": "competence", "blank2014": "brainscore", "pereira2018": "brainscore"}
    return alignment_figure(run)[0]


FIGURES = {"tmaps_two_layers": _tmaps, "figure5a": _figure5a, "sheet_scatter": _sheet,
           "smoothness_overlay": _smoothness_overlay, "smoothness_small_multiples": _smoothness_small_multiples,
           "figure5a_wrapped": _figure5a_wrapped, "alignment_competence": _alignment_competence}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_matches_its_baseline(name, tmp_path):
    figure = FIGURES[name]()
    actual = tmp_path / f"{name}.png"
    figure.savefig(actual, dpi=60)
    expected = BASELINES / f"{name}.png"
    if os.environ.get("TOPOSCOPE_UPDATE_BASELINES"):
        expected.write_bytes(actual.read_bytes())
    assert expected.is_file(), f"no baseline for {name}; run with TOPOSCOPE_UPDATE_BASELINES=1 and look at it"
    difference = compare_images(str(expected), str(actual), tol=TOLERANCE)
    assert difference is None, difference
