"""Stimulus sets: images or texts with labels, from folders, manifests or generators.

``toposcope.stimuli.load(name_or_dir)`` is the entry point; :class:`StimulusSet`
is what extraction takes. Named sets (``floc``, ``konkle``) come from manifests
shipped in ``toposcope/data/stimuli/``; ``gratings`` are made in code.
"""

from toposcope.stimuli.core import (
    IMAGE_SUFFIXES,
    StimulusSet,
    from_folder,
    from_paths,
    from_text_file,
    from_texts,
    open_image,
)
from toposcope.stimuli.fetch import fetch
from toposcope.stimuli.floc import load_floc
from toposcope.stimuli.gratings import gratings
from toposcope.stimuli.konkle import from_labels_table, load_konkle
from toposcope.stimuli.loading import load
from toposcope.stimuli.manifests import available, get_manifest

__all__ = [
    "IMAGE_SUFFIXES",
    "StimulusSet",
    "available",
    "fetch",
    "from_folder",
    "from_labels_table",
    "from_paths",
    "from_text_file",
    "from_texts",
    "get_manifest",
    "gratings",
    "load",
    "load_floc",
    "load_konkle",
    "open_image",
]
