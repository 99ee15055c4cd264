"""Adadelta (lr, rho, eps, weight_decay), PyTorch's rule.

v = rho v + (1 - rho) g^2;  dx = sqrt(u + eps) / sqrt(v + eps) * g;
u = rho u + (1 - rho) dx^2;  p = p - lr dx
"""
from nerve import backend
from nerve.optim.optimizer import Optimizer, check_nonneg, flags


class Adadelta(Optimizer):
    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        check_nonneg("learning rate", lr)
        check_nonneg("epsilon", eps)
        check_nonneg("weight_decay", weight_decay)
        if not 0 <= rho <= 1:
            raise ValueError(f"Invalid rho value: {rho}, expected 0 <= rho <= 1")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                                      **flags(differentiable, foreach=foreach, capturable=capturable)))

    def _update(self, group, param, grad, state):
        if not state:
            state["step"] = 0
            state["square_avg"] = self._zeros(param)
            state["acc_delta"] = self._zeros(param)
        state["step"] += 1
        backend.of(param).adadelta_step(param, state["square_avg"], state["acc_delta"], grad, lr=group["lr"],
                                        rho=group["rho"], eps=group["eps"], weight_decay=group["weight_decay"],
                                        maximize=group["maximize"])
