"""Weight surgery on a model: magnitude pruning, sheet downsampling, and performance measures.

These run forward passes (a performance measure calls the model), so they sit
beside :mod:`toposcope.extraction` and :mod:`toposcope.models`, never in
:mod:`toposcope.analysis`. :mod:`toposcope.workflows.efficiency` turns them into curves.

* :mod:`~toposcope.surgery.pruning`: :func:`pruned`, a context manager that
  zeroes the smallest-magnitude weights with ``torch.nn.utils.prune`` and puts
  the original parameters back afterwards, bit for bit, even on error.
* :mod:`~toposcope.surgery.downsample`: :func:`downsample`, a smaller working
  copy of a model whose topographic layers keep one unit per block of their
  TopoLoss sheet.
* :mod:`~toposcope.surgery.performance`: ready-made ``performance(model) -> float``
  measures, :func:`accuracy` on labelled images and :func:`perplexity` on texts.
"""

from toposcope.surgery.downsample import Downsampled, block_index, downsample, pooled_grid
from toposcope.surgery.performance import accuracy, class_indices, perplexity
from toposcope.surgery.pruning import SCOPES, prune_targets, pruned

__all__ = [
    "SCOPES",
    "Downsampled",
    "accuracy",
    "block_index",
    "class_indices",
    "downsample",
    "perplexity",
    "pooled_grid",
    "prune_targets",
    "pruned",
]
