"""The language half of ``toposcope demo``: integration windows and the localizer on ``demo_lm``.

:func:`run_language_demo` loads the shipped tiny TopoLoss-trained language
model, makes word-swap stimuli from held-out text of the project's grammar
(running text, 40-word sequences; structure-yoked sequences of 5 x 12-word
sentences), measures every unit's integration window, fits the power-law /
exponential model, computes the sentence-yoking index, runs a localizer made
from the same grammar (sentences vs word lists vs non-words), and writes::

    windows.nc                   a, b, c, r2, sse, yoking per unit; theta (unit, delta)
    localizer.nc                 t, p, p_fdr, selective per unit; per-layer fractions, Moran's I
    figures/windows_maps.png     a, b, c, R^2, yoking on the sheet, one row per layer
    figures/windows_rgb.png      red = power law, green = exponential, blue = sentence-yoked
    figures/theta.png            median theta per layer with the fitted model
    figures/localizer.png        sentences vs non-words t-maps and the selective mask
    language_summary.json        what the function returns
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run_language_demo"]


def run_language_demo(output_dir: str | Path, progress: bool = True, *, n_sequences: int = 24,
                      n_localizer: int = 80, seed: int = 0) -> dict[str, Any]:
    """Windows and localizer of ``demo_lm``, written to ``output_dir``; returns the summary.

    Parameters
    ----------
    output_dir : path
        Created if needed; files listed in the module docstring.
    progress : bool
        Progress bars for the forward passes.
    n_sequences : int
        Sequences of each kind (natural, yoked); each costs ``L + 1`` forward texts.
    n_localizer : int
        Localizer texts per condition (sentences, word lists, non-words).
    seed : int
        Seeds the text, the swaps and the localizer stimuli.

    Returns
    -------
    dict
        ``model``, ``seconds``, per-layer medians of ``a``, ``b``, ``c``, ``r2``,
        ``yoking`` (``windows``), localizer fractions and Moran's I
        (``localizer``), and the written ``files``.
    """
    from toposcope.analysis.localizer import localize
    from toposcope.extraction import extract
    from toposcope.io import write_netcdf
    from toposcope.models.registry import load_model
    from toposcope.plot.sheet import save_figure
    from toposcope.plot.windows import plot_localizer, plot_theta, plot_window_maps, plot_window_rgb
    from toposcope.stimuli.language import synthetic_localizer
    from toposcope.stimuli.text import natural_swaps, synthetic_corpus, yoked_swaps
    from toposcope.workflows.windows import integration_windows, layer_medians

    start = time.perf_counter()
    out = Path(output_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    subject = load_model("demo_lm")
    # Held-out text: the model was trained on the grammar with seed 0.
    corpus = synthetic_corpus(4000, seed=seed + 1)
    embeddings = subject.model.get_input_embeddings().weight.detach().cpu().numpy()
    natural = natural_swaps(corpus, subject.tokenizer, length=40, n_sequences=n_sequences, seed=seed)
    yoked = yoked_swaps(corpus, subject.tokenizer, n_sentences=5, sentence_length=12, n_sequences=n_sequences,
                        embeddings=embeddings, seed=seed)
    windows = integration_windows(subject, natural, yoked, progress=progress)
    files = [write_netcdf(windows, out / "windows.nc")]

    stimuli = synthetic_localizer(n_localizer, seed=seed)
    responses = extract(subject, stimuli, text_mode="mean", cache=False, progress=progress)
    localizer = localize(responses, "sentences_vs_nonwords")
    structure = localize(responses, "sentences_vs_words")
    localizer["selective_vs_words"] = structure["selective"]
    files.append(write_netcdf(localizer, out / "localizer.nc"))

    figures = {"windows_maps.png": plot_window_maps(windows), "windows_rgb.png": plot_window_rgb(windows),
               "theta.png": plot_theta(windows), "localizer.png": plot_localizer(localizer)}
    for name, figure in figures.items():
        files.extend(save_figure(figure, out / "figures" / name, formats=("png",)))
    summary = {
        "model": subject.name,
        "seconds": round(time.perf_counter() - start, 1),
        "natural_sequences": natural.n_sequences,
        "yoked_sequences": yoked.n_sequences,
        "windows": {layer: {k: round(v, 4) for k, v in values.items()}
                    for layer, values in layer_medians(windows).items()},
        "localizer": {
            "contrast": "sentences_vs_nonwords",
            "fraction_selective": dict(zip(map(str, localizer["layers"].values),
                                           np.round(localizer["fraction_selective"].values, 4).tolist())),
            "fraction_selective_vs_words": dict(zip(map(str, structure["layers"].values),
                                                    np.round(structure["fraction_selective"].values, 4).tolist())),
            "morans_i": dict(zip(map(str, localizer["layers"].values),
                                 np.round(localizer["morans_i"].values, 4).tolist())),
        },
        "files": [str(Path(f)) for f in files],
    }
    (out / "language_summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    summary["files"].append(str(out / "language_summary.json"))
    return summary
