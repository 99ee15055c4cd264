"""SGD with momentum, dampening, Nesterov momentum and weight decay (L2).

PyTorch's rule: g = grad + wd * p; b = g at the first step, then
b = momentum * b + (1 - dampening) * g; g = g + momentum * b (nesterov) or b;
p = p - lr * g. One fused native loop per parameter on the CPU.
"""
from nerve import backend
from nerve.optim.optimizer import Optimizer, check_nonneg, flags


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        check_nonneg("learning rate", lr)
        check_nonneg("momentum", momentum)
        check_nonneg("weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize,
                                      **flags(differentiable, foreach=foreach, fused=fused)))

    def _update(self, group, param, grad, state):
        buf, first = None, False
        if group["momentum"] != 0:
            buf = state.get("momentum_buffer")
            first = buf is None  # PyTorch starts the buffer as a copy of the first gradient
            if first:
                buf = state["momentum_buffer"] = self._zeros(param)
        backend.of(param).sgd_step(param, buf, grad, lr=group["lr"], momentum=group["momentum"],
                                   dampening=group["dampening"], weight_decay=group["weight_decay"],
                                   nesterov=group["nesterov"], maximize=group["maximize"], first_step=first)
