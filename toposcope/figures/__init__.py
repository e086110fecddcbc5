"""The papers' figures from a finished ``toposcope run`` output folder.

:func:`build_figures` reads ``OUT/results/ANALYSIS/MODEL.nc`` and writes, into
``OUT/figures/paper/``, every figure its inputs allow, each as PNG and PDF with
the numbers behind it beside it (same stem, ``.csv`` or ``.nc``):

=============================  =========================================  ===============================
file stem                      what                                       needs results of
=============================  =========================================  ===============================
fig2_smoothness_performance    TopoNets Fig. 2: smoothness vs             smoothness + a performance
                               performance, Pareto front (language:       (language: competence, else
                               minimal-pair accuracy)                     perplexity, labelled)
fig3_dimensionality            TopoNets Fig. 3: ED vs performance and     dimensionality, smoothness,
                               vs smoothness, r, p; Fisher z              a performance; >= 4 models
fig4_efficiency                TopoNets Fig. 4: performance change vs     efficiency
                               share pruned / downsampled
smoothness_curves              correlation vs distance per layer,         smoothness
                               chance band (one panel per model)
fig5a_tmaps                    TopoNets Fig. 5A: t-maps of the last       selectivity (fLOC and Konkle
                               layer per model                            analyses merged per model)
fig5b_windows                  TopoNets Fig. 5B: power-law / exponential  windows
                               window maps by tau, layer medians
tdann_floc_maps                TDANN Fig. 3: per-seed fLOC t-maps,        selectivity
                               domain map, patches, category smoothness
tdann_smoothness               TDANN Fig. S1: correlation vs cortical     smoothness
                               distance, mean +- SD over seeds
topolm_localizer               TopoLM: sentences vs non-words t-maps,     localizer (sentences_vs_*)
                               selective units outlined, Moran's I
topolm_nouns_verbs             TopoLM: nouns vs verbs t-maps per          localizer (nouns_vs_verbs)
                               stimulus set, Moran's I
topoformer_suites              Topoformer: suite maps (signed -log10 p)   suites
                               per layer, one figure per model
topoformer_components          Topoformer: PC1, PC2 maps per layer and    components
                               explained variance, per model
topoformer_tgi                 Topoformer: TGI per layer, models side     tgi
                               by side (topographic vs control)
trajectory_metrics             every metric against training step (log    a trajectory's models (steps)
                               axis), per layer or per model size
alignment_competence           over-training study: brain score vs        competence + brainscore of a
                               minimal-pair accuracy, coloured by step    trajectory's models (steps)
topolm_clusters-MODEL          TopoLM: seed-grown clusters on the t-maps  clusters
                               and each cluster's S / W / J / N profile
=============================  =========================================  ===============================

The rules each paper's module applies (which analysis is the language
localizer, which models are seeds of one configuration) are in the docstrings of
:mod:`toposcope.figures.toponets`, :mod:`toposcope.figures.tdann` and
:mod:`toposcope.figures.language`.

Conventions (documented because the papers leave them implicit):

* **Smoothness** of a model is the mean over its layers of ``score_toponets``
  (:func:`toposcope.analysis.layerwise.smoothness_by_layer`), the paper's raw
  score, on Fig. 2's axis; its CSV also carries ``smoothness_corrected``, the
  mean of ``score_toponets_corrected`` (score minus its shuffled-position
  chance level). **ED** likewise the mean of ``effective_dimensionality``.
* **Performance** is a ``performance`` attribute on any of the model's result
  files when the run recorded one; otherwise the unpruned accuracy of its
  efficiency result (``attrs["baseline"]``).
* A model is a **baseline** (hollow, black) when its load options hold
  ``tau = 0`` (e.g. from a recipe's ``taus = [0, ...]``), ``topographic = false``
  or ``checkpoint = "none"`` (untrained), or when its recipe name or spec contains
  ``"baseline"``; every other model is topographic (filled, coloured). Fig. 3's
  r and Fisher z count the topographic models only, as the paper's do.

Where this sits: :mod:`toposcope.plot` draws single panels from results in
memory; this package lays them out as the papers' figures from the files of a
run (and never runs a model); ``figures/make_figures.py`` at the repository
root is the script that calls :func:`build_figures`.

A recipe may list the figures it is for (``[recipe] figures = ["fig5a_tmaps"]``);
then only those are built. Figures whose inputs are absent are skipped with a
one-line reason.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from toposcope._validation import ToposcopeError, check_option
from toposcope.figures import language, tdann, topoformer, toponets, trajectory, units
from toposcope.figures._run import Run, Skip, is_baseline, load_run

__all__ = ["FIGURES", "Run", "build_figures", "check_figure_names", "is_baseline", "load_run"]

#: file stem -> builder(run, folder) -> files written, in drawing order; each module owns one paper's.
FIGURES: dict[str, Callable[[Run, Path], list[Path]]] = {**toponets.FIGURES, **tdann.FIGURES, **language.FIGURES,
                                                         **topoformer.FIGURES, **trajectory.FIGURES, **units.FIGURES}


def check_figure_names(names: Any) -> list[str]:
    """``names`` as a list of known figure stems, or a one-line error naming the unknown one."""
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ToposcopeError(f"figures must be a list of figure names, got {names!r}; known: {', '.join(FIGURES)}")
    for name in names:
        check_option("figure", name, FIGURES)
    return list(names)


def build_figures(out_dir: str | Path, *, figures: Sequence[str] | None = None,
                  on_skip: Callable[[str], None] | None = None) -> list[Path]:
    """Build every paper figure a run's results allow into ``OUT/figures/paper/``.

    Parameters
    ----------
    out_dir : path
        The output folder of ``toposcope run``.
    figures : sequence of str, optional
        Figure stems to build (keys of :data:`FIGURES`); by default those the
        run's recipe lists under ``[recipe] figures``, else every figure.
    on_skip : callable, optional
        Called with ``"STEM: reason"`` for each figure skipped for lack of
        inputs; a :class:`UserWarning` by default.

    Returns
    -------
    list of Path
        The files written: per figure ``STEM.png``, ``STEM.pdf`` and its data
        (``STEM.csv`` or ``STEM.nc``).

    Raises
    ------
    ToposcopeError
        If ``out_dir`` is not a run output folder, or a figure name is unknown.
    """
    run = load_run(out_dir)
    listed = figures if figures is not None else run.recipe.get("source", {}).get("recipe", {}).get("figures")
    chosen = check_figure_names(listed) if listed is not None else list(FIGURES)
    if not run.results:
        raise ToposcopeError(f"{str(run.path)!r} holds no results yet; run the recipe first")
    folder = run.path / "figures" / "paper"
    report = on_skip or (lambda message: warnings.warn(message, stacklevel=3))
    written: list[Path] = []
    for stem in chosen:
        try:
            written.extend(FIGURES[stem](run, folder))
        except Skip as reason:
            report(f"{stem}: {reason}")
    return written
