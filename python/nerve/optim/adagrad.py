"""Adagrad (lr_decay, weight_decay, initial_accumulator_value), PyTorch's rule.

s = s + g^2;  p = p - lr / (1 + (t - 1) lr_decay) * g / (sqrt(s) + eps)
"""
from nerve import backend
from nerve.optim.optimizer import Optimizer, check_nonneg, flags


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        check_nonneg("learning rate", lr)
        check_nonneg("lr_decay", lr_decay)
        check_nonneg("weight_decay", weight_decay)
        check_nonneg("initial_accumulator_value", initial_accumulator_value)
        check_nonneg("epsilon", eps)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps,
                                      initial_accumulator_value=initial_accumulator_value, maximize=maximize,
                                      **flags(differentiable, foreach=foreach, fused=fused)))

    def _update(self, group, param, grad, state):
        if not state:
            state["step"] = 0
            state["sum"] = self._zeros(param) + param.dtype.type(group["initial_accumulator_value"])
        state["step"] += 1
        backend.of(param).adagrad_step(param, state["sum"], grad, lr=group["lr"], lr_decay=group["lr_decay"],
                                       eps=group["eps"], weight_decay=group["weight_decay"], step=state["step"],
                                       maximize=group["maximize"])
