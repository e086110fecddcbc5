"""A tiny vision network with known structure, shared by the core tests."""

from __future__ import annotations

import torch
from torch import nn
from torchvision import transforms


class TinyNet(nn.Module):
    """conv1 (3->4, 1x1) -> ReLU -> conv2 (4->6, 3x3, stride 2) -> ReLU -> pool -> fc (6->5)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = nn.Conv2d(3, 4, 1)
        self.conv2 = nn.Conv2d(4, 6, 3, stride=2)
        self.fc = nn.Linear(6, 5)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        return self.fc(x.mean(dim=(2, 3)))


def tiny_transform():
    """PIL image -> (3, 16, 16) tensor in [0, 1]."""
    return transforms.Compose([transforms.Resize((16, 16)), transforms.ToTensor()])
