"""Adapters from a model spec, checkpoint or ``nn.Module`` to a :class:`Subject`."""

from toposcope.models.registry import FAMILIES, known_specs, load_model, parse_spec
from toposcope.models.subject import Subject, TopoLayer, from_module

__all__ = ["FAMILIES", "Subject", "TopoLayer", "from_module", "known_specs", "load_model", "parse_spec"]
