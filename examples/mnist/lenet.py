"""The small convolutional network both MNIST examples train: plain ``torch.nn``, nothing of fuse.

It is FuseMedML's ``lenet.py`` (two 3 x 3 convolutions, max pooling, two fully connected layers, dropout) except
that ``forward`` returns raw logits rather than log-probabilities: the examples apply the softmax and the
cross-entropy themselves (see ``wrap_model`` in ``mnist_common.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LeNet(nn.Module):
    """``[B, 1, 28, 28]`` images -> ``[B, num_classes]`` logits."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)  # 64 channels x 12 x 12 after two convolutions and a 2 x 2 max pooling
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = self.dropout1(F.max_pool2d(x, 2))
        x = self.dropout2(F.relu(self.fc1(torch.flatten(x, 1))))
        logits: torch.Tensor = self.fc2(x)
        return logits
