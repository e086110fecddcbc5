"""Image preprocessing shared by the vision adapters, and the user's choice of it.

Every vision adapter gives its model's own preprocessing (ImageNet's resize 256 /
crop 224 for the TopoNets and torchvision models, the weights' own transforms for
``torchvision:ARCH`` with ``weights=``, the digit transform for the demo). A user
who needs a paper's preprocessing picks a preset (``preprocess="inception"``) and/or
overrides its steps (``resize``, ``crop``, ``interpolation``, ``mean``, ``std``,
``grayscale``): on the command line as ``--preprocess``, ``--resize`` ...; in
recipes as model options. The choice is recorded in provenance; the response
cache keys on the transform itself, so changed preprocessing never hits old responses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from toposcope._validation import ToposcopeError, check_bool, check_option

__all__ = ["PREPROCESS_KEYS", "PRESETS", "build_transform", "imagenet_transform", "preprocessing"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: OpenAI CLIP's normalisation.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

#: Named preprocessing: resize of the short side, centre crop, interpolation, normalisation.
PRESETS: dict[str, dict[str, Any]] = {
    "imagenet": {"resize": 256, "crop": 224, "interpolation": "bilinear", "mean": IMAGENET_MEAN,
                 "std": IMAGENET_STD},
    # torchvision's Inception-v3 weights: 342 -> 299, inputs scaled to [-1, 1].
    "inception": {"resize": 342, "crop": 299, "interpolation": "bilinear", "mean": (0.5, 0.5, 0.5),
                  "std": (0.5, 0.5, 0.5)},
    "clip": {"resize": 224, "crop": 224, "interpolation": "bicubic", "mean": CLIP_MEAN, "std": CLIP_STD},
    # Images as they are, scaled to [0, 1]: for stimuli already at the model's input size.
    "none": {"resize": None, "crop": None, "interpolation": "bilinear", "mean": None, "std": None},
}
#: Load options that choose preprocessing (popped by load_model before the family's loader).
PREPROCESS_KEYS = ("preprocess", "resize", "crop", "interpolation", "mean", "std", "grayscale")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos")


def imagenet_transform(size: int = 224, resize: int = 256) -> Any:
    """Resize, centre-crop, to tensor and ImageNet normalisation: PIL -> (3, size, size)."""
    return build_transform({**PRESETS["imagenet"], "resize": resize, "crop": size})


def preprocessing(options: Mapping[str, Any]) -> dict[str, Any]:
    """The full settings chosen by ``options`` (a preset and overrides), checked.

    Parameters
    ----------
    options : mapping
        Any of :data:`PREPROCESS_KEYS`; values may be CLI strings (``"0.5,0.5,0.5"``).

    Returns
    -------
    dict
        ``resize``, ``crop`` (int or None), ``interpolation`` (str), ``mean``, ``std``
        (3 floats or None), ``grayscale`` (bool), ``preset`` (str).
    """
    preset = check_option("preprocess preset", str(options.get("preprocess", "imagenet")), tuple(PRESETS))
    settings = {**PRESETS[preset], "grayscale": False, "preset": preset}
    for key in ("resize", "crop"):
        if options.get(key) is not None:
            settings[key] = _size(key, options[key])
    if options.get("interpolation") is not None:
        settings["interpolation"] = check_option("interpolation", str(options["interpolation"]).lower(),
                                                 INTERPOLATIONS)
    for key in ("mean", "std"):
        if options.get(key) is not None:
            settings[key] = _triple(key, options[key])
    if options.get("grayscale") is not None:
        settings["grayscale"] = check_bool("grayscale", options["grayscale"])
    if settings["std"] is not None and min(settings["std"]) <= 0:
        raise ToposcopeError(f"std must be positive, got {settings['std']}",
                             cli=f"--std must be positive, got {settings['std']}")
    if (settings["mean"] is None) != (settings["std"] is None):
        raise ToposcopeError("give mean and std together (or neither, with preprocess='none')",
                             cli="give --mean and --std together (or neither, with --preprocess none)")
    return settings


def build_transform(settings: Mapping[str, Any]) -> Any:
    """A torchvision ``Compose`` from :func:`preprocessing` settings: PIL image -> (3, H, W) float tensor."""
    from torchvision import transforms

    mode = transforms.InterpolationMode(settings.get("interpolation", "bilinear"))
    steps: list[Any] = []
    if settings.get("grayscale"):
        steps.append(transforms.Grayscale(num_output_channels=3))
    if settings.get("resize"):
        steps.append(transforms.Resize(settings["resize"], interpolation=mode))
    if settings.get("crop"):
        steps.append(transforms.CenterCrop(settings["crop"]))
    steps.append(transforms.ToTensor())
    if settings.get("mean") is not None:
        steps.append(transforms.Normalize(settings["mean"], settings["std"]))
    return transforms.Compose(steps)


def describe(settings: Mapping[str, Any]) -> str:
    """One provenance line: ``imagenet resize=256 crop=224 bilinear mean=... std=...``."""
    parts = [settings["preset"], f"resize={settings['resize']}", f"crop={settings['crop']}",
             settings["interpolation"]]
    if settings["mean"] is not None:
        parts += [f"mean={','.join(f'{v:g}' for v in settings['mean'])}",
                  f"std={','.join(f'{v:g}' for v in settings['std'])}"]
    if settings["grayscale"]:
        parts.append("grayscale")
    return " ".join(parts)


def _size(key: str, value: Any) -> int:
    try:
        size = int(str(value).strip())
    except ValueError:
        size = 0
    if size < 1 or isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        message = f"{key} must be a positive number of pixels, got {value!r}"
        raise ToposcopeError(message, cli=f"--{message}")
    return size


def _triple(key: str, value: Any) -> tuple[float, float, float]:
    items = [v for v in value.split(",") if v.strip()] if isinstance(value, str) else value
    try:
        numbers = tuple(float(v) for v in items) if isinstance(items, Sequence) else ()
    except (TypeError, ValueError):
        numbers = ()
    if len(numbers) != 3:
        message = f"{key} must be three numbers (R,G,B), e.g. 0.485,0.456,0.406; got {value!r}"
        raise ToposcopeError(message, cli=f"--{message}")
    return numbers  # type: ignore[return-value]
