"""Optimizers and learning-rate schedules with PyTorch's names and update rules."""
from nerve.optim import lr_scheduler
from nerve.optim.adadelta import Adadelta
from nerve.optim.adagrad import Adagrad
from nerve.optim.adam import Adam, AdamW
from nerve.optim.lbfgs import LBFGS
from nerve.optim.optimizer import Optimizer
from nerve.optim.rmsprop import RMSprop
from nerve.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "LBFGS", "lr_scheduler"]
