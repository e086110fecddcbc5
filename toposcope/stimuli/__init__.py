"""Stimulus sets: images or texts with labels, from folders, manifests or generators.

``toposcope.stimuli.load(name_or_dir)`` is the entry point; :class:`StimulusSet`
is what extraction takes.
"""

from toposcope.stimuli.core import (
    IMAGE_SUFFIXES,
    StimulusSet,
    from_folder,
    from_paths,
    from_text_file,
    from_texts,
    load,
    open_image,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "StimulusSet",
    "from_folder",
    "from_paths",
    "from_text_file",
    "from_texts",
    "load",
    "open_image",
]
