"""Adam and AdamW (with amsgrad), PyTorch's rules.

m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  amsgrad: v_max = max(v_max, v)
p = p - lr * (m / (1 - b1^t)) / (sqrt(v or v_max) / sqrt(1 - b2^t) + eps)
Adam adds weight_decay * p to g (L2); AdamW first shrinks p by (1 - lr * wd).
"""
from nerve import backend
from nerve.optim.optimizer import Optimizer, check_beta, check_nonneg, flags


class Adam(Optimizer):
    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        """decoupled_weight_decay=True makes this AdamW's update, as in PyTorch."""
        check_nonneg("learning rate", lr)
        check_nonneg("epsilon", eps)
        check_beta("beta1", betas[0])
        check_beta("beta2", betas[1])
        check_nonneg("weight_decay", weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=bool(decoupled_weight_decay or self._decoupled),
                                      **flags(differentiable, foreach=foreach, capturable=capturable, fused=fused)))

    def _update(self, group, param, grad, state):
        if not state:
            state["step"] = 0
            state["exp_avg"] = self._zeros(param)
            state["exp_avg_sq"] = self._zeros(param)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = self._zeros(param)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        backend.of(param).adam_step(param, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"), grad,
                                    lr=group["lr"], beta1=beta1, beta2=beta2, eps=group["eps"],
                                    weight_decay=group["weight_decay"], step=state["step"],
                                    decoupled=group["decoupled_weight_decay"], maximize=group["maximize"])


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.01, as in PyTorch)."""
    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused)
