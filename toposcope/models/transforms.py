"""Image preprocessing shared by the vision adapters."""

from __future__ import annotations

from typing import Any

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_transform(size: int = 224, resize: int = 256) -> Any:
    """Resize, centre-crop, to tensor and ImageNet normalisation: PIL -> (3, size, size)."""
    from torchvision import transforms

    return transforms.Compose(
        [
            transforms.Resize(resize),
            transforms.CenterCrop(size),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
