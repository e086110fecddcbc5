"""``toposcope demo``: the offline demo, in one wing.

* :mod:`~toposcope.demo.run`: :func:`run_demo`, every analysis on the shipped
  digit models (``demo/topo`` and its tau = 0 twin ``demo/baseline``), and the
  summary it prints.
* :mod:`~toposcope.demo.language`: the language half, integration windows and
  the localizer on the shipped ``demo_lm``.
* :mod:`~toposcope.demo.topoformer`: the tiny Topoformer against its
  non-topographic twin (TGI per layer, grammar suite maps).
* :mod:`~toposcope.demo.digits`: the UCI digits (shipped with scikit-learn) as
  the demo models' training data and stimuli.

The demo models themselves are model families like any other
(:mod:`toposcope.models.demo`, :mod:`toposcope.models.demo_lm`), so
``toposcope.load_model("demo/topo")`` works without this wing; their weights
ship in ``toposcope/data/``. The demo sits above the workflows: it runs them,
draws the figures and checks the papers' effects.
"""

# The settings (TARGET, PRUNE_FRACTIONS, ...) stay reachable as toposcope.demo.NAME, as before.
from toposcope.demo.run import (  # noqa: F401
    DOWNSAMPLE_FACTORS,
    DOWNSAMPLE_LAYER,
    PRUNE_FRACTIONS,
    TARGET,
    compare,
    format_summary,
    paper_effects,
    run_demo,
)

__all__ = ["compare", "format_summary", "paper_effects", "run_demo"]
