"""RMSprop (alpha, eps, weight_decay, momentum, centered), PyTorch's rule.

v = alpha v + (1 - alpha) g^2; centered: a = alpha a + (1 - alpha) g, v~ = v - a^2;
momentum: b = momentum b + g / (sqrt(v~) + eps), p -= lr b; else p -= lr g / (sqrt(v~) + eps).
"""
from nerve import backend
from nerve.optim.optimizer import Optimizer, check_nonneg, flags


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        check_nonneg("learning rate", lr)
        check_nonneg("epsilon", eps)
        check_nonneg("momentum", momentum)
        check_nonneg("weight_decay", weight_decay)
        if not 0 <= alpha <= 1:
            raise ValueError(f"Invalid alpha value: {alpha}, expected 0 <= alpha <= 1")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered, maximize=maximize,
                                      **flags(differentiable, capturable=capturable, foreach=foreach)))

    def _update(self, group, param, grad, state):
        if not state:
            state["step"] = 0
            state["square_avg"] = self._zeros(param)
            if group["momentum"] > 0:
                state["momentum_buffer"] = self._zeros(param)
            if group["centered"]:
                state["grad_avg"] = self._zeros(param)
        state["step"] += 1
        backend.of(param).rmsprop_step(param, state["square_avg"], state.get("grad_avg"), state.get("momentum_buffer"),
                                       grad, lr=group["lr"], alpha=group["alpha"], eps=group["eps"],
                                       weight_decay=group["weight_decay"], momentum=group["momentum"],
                                       maximize=group["maximize"])
