"""L-BFGS, PyTorch's algorithm (without line search): ``step(closure)``
re-evaluates the loss up to max_iter times per call.

Each iteration builds the search direction d from the last history_size
curvature pairs (s = t d, y = g_new - g_old, kept when y.s > 1e-10) with the
two-loop recursion and H0 = (y.s / y.y) I, then steps p += t d with
t = lr (t = min(1, 1 / |g|_1) * lr on the very first iteration). It stops on
a small gradient (tolerance_grad), a small step or loss change
(tolerance_change), max_iter or max_eval. Works on one flat float vector of
all parameters (numpy or cupy), so it suits small full-batch problems.
"""
from nerve import backend
from nerve.autograd import enable_grad, no_grad
from nerve.optim.optimizer import Optimizer


class LBFGS(Optimizer):
    def __init__(self, params, lr=1.0, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        if line_search_fn is not None:
            raise ValueError(f"LBFGS: line_search_fn {line_search_fn!r} is not supported (only None)")
        if not lr > 0:
            raise ValueError(f"Invalid learning rate: {lr}, expected > 0")
        max_eval = max_iter * 5 // 4 if max_eval is None else max_eval
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change, history_size=history_size,
                                      line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def _flat_grad(self):
        xp = backend.of(self._params[0].data).xp
        return xp.concatenate([(p.grad.data if p.grad is not None else xp.zeros_like(p.data)).ravel()
                               for p in self._params])

    def _add(self, t, d):
        offset = 0
        for p in self._params:
            n = p.numel()
            p.data += (t * d[offset:offset + n]).reshape(p.shape).astype(p.dtype, copy=False)
            p._version_counter.value += 1
            offset += n

    def step(self, closure):
        """Run up to max_iter iterations; ``closure`` zeroes grads, computes the
        loss, calls backward and returns the loss. Returns the first loss."""
        if closure is None:
            raise ValueError("LBFGS.step needs a closure that recomputes the loss")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change, history = group["tolerance_grad"], group["tolerance_change"], group["history_size"]
        state = self.state.setdefault(self._params[0], {"func_evals": 0, "n_iter": 0})

        def evaluate():
            with enable_grad():
                return closure()

        orig_loss = evaluate()
        loss = float(orig_loss)
        evals = 1
        state["func_evals"] += 1
        g = self._flat_grad()
        xp = backend.of(g).xp
        if float(xp.abs(g).max()) <= tol_grad:
            return orig_loss
        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs", []), state.get("old_stps", []), state.get("ro", [])
        h_diag, prev_g, prev_loss = state.get("H_diag", 1.0), state.get("prev_flat_grad"), state.get("prev_loss")

        with no_grad():
            n_iter = 0
            while n_iter < max_iter:
                n_iter += 1
                state["n_iter"] += 1
                if state["n_iter"] == 1:
                    d, old_dirs, old_stps, ro, h_diag = -g, [], [], [], 1.0
                else:
                    y, s = g - prev_g, d * t
                    ys = float(y @ s)
                    if ys > 1e-10:  # keep only pairs with positive curvature
                        if len(old_dirs) == history:
                            old_dirs.pop(0), old_stps.pop(0), ro.pop(0)
                        old_dirs.append(y), old_stps.append(s), ro.append(1.0 / ys)
                        h_diag = ys / float(y @ y)
                    # two-loop recursion: d = -H g
                    al = [0.0] * len(old_dirs)
                    q = -g
                    for i in range(len(old_dirs) - 1, -1, -1):
                        al[i] = float(old_stps[i] @ q) * ro[i]
                        q = q - al[i] * old_dirs[i]
                    d = q * h_diag
                    for i in range(len(old_dirs)):
                        be = float(old_dirs[i] @ d) * ro[i]
                        d = d + old_stps[i] * (al[i] - be)
                prev_g, prev_loss = g.copy(), loss
                t = min(1.0, 1.0 / float(xp.abs(g).sum())) * lr if state["n_iter"] == 1 else lr
                if float(g @ d) > -tol_change:  # not a descent direction any more
                    break
                self._add(t, d)
                small_grad = False
                if n_iter != max_iter:
                    loss = float(evaluate())
                    g = self._flat_grad()
                    small_grad = float(xp.abs(g).max()) <= tol_grad
                    evals += 1
                    state["func_evals"] += 1
                if n_iter == max_iter or evals >= max_eval or small_grad:
                    break
                if float(xp.abs(d * t).max()) <= tol_change or abs(loss - prev_loss) < tol_change:
                    break

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=h_diag, prev_flat_grad=prev_g,
                     prev_loss=prev_loss)
        return orig_loss
