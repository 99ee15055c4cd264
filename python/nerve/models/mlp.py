"""MLP: a multi-layer perceptron classifier (Flatten, then Linear + ReLU +
Dropout per hidden layer, then a Linear to the class logits)."""
from nerve import nn


class MLP(nn.Module):
    """``MLP(64, (128, 64), 10)``: 64 -> 128 -> 64 -> 10 logits; input ``(N, ...)`` is flattened to ``(N, in_features)``."""

    def __init__(self, in_features=64, hidden=(128, 64), num_classes=10, dropout=0.1):
        super().__init__()
        layers = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)
