"""L-BFGS, PyTorch's algorithm: ``step(closure)`` re-evaluates the loss up
to max_iter times per call.

Each iteration builds the search direction d from the last history_size
curvature pairs (s = t d, y = g_new - g_old, kept when y.s > 1e-10) with the
two-loop recursion and H0 = (y.s / y.y) I, then steps p += t d with
t = lr (t = min(1, 1 / |g|_1) * lr on the very first iteration), or with the
t that line_search_fn="strong_wolfe" finds (bracketing, then zooming by
cubic interpolation until f(t) <= f + c1 t g.d and |g(t).d| <= -c2 g.d,
c1 = 1e-4, c2 = 0.9, at most 25 evaluations). It stops on a small gradient
(tolerance_grad), a small step or loss change (tolerance_change), max_iter
or max_eval. Works on one flat float vector of all parameters (numpy or
cupy), so it suits small full-batch problems.
"""
import math

from nerve import backend
from nerve.autograd import enable_grad, no_grad
from nerve.optim.optimizer import Optimizer


class LBFGS(Optimizer):
    def __init__(self, params, lr=1.0, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")
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
        xp = backend.of(self._params[0]._data).xp
        return xp.concatenate([(p.grad._data if p.grad is not None else xp.zeros_like(p._data)).ravel()
                               for p in self._params])

    def _add(self, t, d):
        offset = 0
        for p in self._params:
            n = p.numel()
            p._data += (t * d[offset:offset + n]).reshape(p.shape).astype(p.dtype, copy=False)
            p._version_counter.value += 1
            offset += n

    def _flat_params(self):
        xp = backend.of(self._params[0]._data).xp
        return xp.concatenate([p._data.ravel() for p in self._params])

    def _set(self, flat):
        offset = 0
        for p in self._params:
            n = p.numel()
            p._data[...] = flat[offset:offset + n].reshape(p.shape)
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
                small_grad = False
                if group["line_search_fn"] == "strong_wolfe":
                    x0 = self._flat_params()

                    def directional(t_try):  # loss and gradient at x0 + t_try d; parameters restored
                        self._add(t_try, d)
                        f_try = float(evaluate())
                        g_try = self._flat_grad()
                        self._set(x0)
                        return f_try, g_try

                    loss, g, t, ls_evals = _strong_wolfe(directional, t, d, loss, g, float(g @ d), tol_change)
                    self._add(t, d)
                    small_grad = float(xp.abs(g).max()) <= tol_grad
                    evals += ls_evals
                    state["func_evals"] += ls_evals
                else:
                    self._add(t, d)
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


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimizer of the cubic through (x1, f1, slope g1) and (x2, f2, g2), clamped to bounds
    (default: between x1 and x2); the midpoint when the cubic has no minimum."""
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if d2_square < 0:
        return (lo + hi) / 2.0
    d2 = math.sqrt(d2_square)
    if x1 <= x2:
        pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(pos, lo), hi)


def _strong_wolfe(evaluate, t, d, f, g, gtd, tolerance_change, c1=1e-4, c2=0.9, max_ls=25):
    """PyTorch's strong-Wolfe line search along d from loss f, gradient g, slope gtd = g.d.
    ``evaluate(t)`` returns (loss, flat gradient) at x + t d. Returns (loss, grad, t, evaluations)."""
    d_norm = float(abs(d).max())
    f_new, g_new = evaluate(t)
    evals, gtd_new = 1, float(g_new @ d)
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done, ls_iter = False, 0
    while ls_iter < max_ls:  # bracketing: grow t until an interval holds a Wolfe point
        armijo_fails = f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev)
        if not armijo_fails and abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g, done = [t], [f_new], [g_new], True
            break
        if armijo_fails or gtd_new >= 0:
            bracket, bracket_f, bracket_g = [t_prev, t], [f_prev, f_new], [g_prev, g_new]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        t_next = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
        t = t_next
        f_new, g_new = evaluate(t)
        evals, gtd_new = evals + 1, float(g_new @ d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]
    insufficient = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:  # zoom: shrink the bracket by cubic interpolation
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        top, bottom = max(bracket), min(bracket)
        eps = 0.1 * (top - bottom)
        if min(top - t, t - bottom) < eps:  # too close to an end: move inside unless progress was made
            if insufficient or t >= top or t <= bottom:
                t = top - eps if abs(t - top) < abs(t - bottom) else bottom + eps
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False
        f_new, g_new = evaluate(t)
        evals, gtd_new = evals + 1, float(g_new @ d)
        ls_iter += 1
        if f_new > f + c1 * t * gtd or f_new >= bracket_f[low]:
            bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = t, f_new, g_new, gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low] = t, f_new, g_new, gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals
