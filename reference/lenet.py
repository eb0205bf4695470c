"""The seed's LeNet, exactly as the notebook behind 99.16 % defines it.

Shared by every reference script: fixtures, peer measurements and the checks
that real PyTorch loads what lenetkit writes.
"""
import torch
from torch import nn


class LeNet(nn.Module):
    def __init__(self, dropout=0.3, dropout_mode="row"):
        super().__init__()
        if dropout_mode not in ("row", "element"):
            raise ValueError(f"dropout_mode {dropout_mode!r}: want 'row' or 'element'")
        self.conv_layers = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.BatchNorm2d(32),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.BatchNorm2d(64),
            nn.MaxPool2d(4),
            nn.Conv2d(64, 128, 3, padding=1),
            nn.ReLU(),
            nn.BatchNorm2d(128),
            nn.MaxPool2d(2),
        )
        self.fc_layer = nn.Sequential(
            nn.Flatten(),
            nn.Linear(512, 64),
            # row: Dropout1d on (N, 64) zeroes whole samples, as the notebook's
            # model did; element: the element-wise dropout the seed's prose describes.
            nn.Dropout1d(dropout) if dropout_mode == "row" else nn.Dropout(dropout),
            nn.Linear(64, 10),
        )

    def forward(self, x):
        return self.fc_layer(self.conv_layers(x))
