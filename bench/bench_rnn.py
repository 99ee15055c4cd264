"""RNN suite: nerve.nn.LSTM / GRU (one native whole-sequence kernel per layer)
against torch.nn.LSTM / GRU on the CPU, forward (no grad) and forward +
backward, float32, in milliseconds per call.

Run: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench rnn --save``
(with bench/harness.py), or ``python bench/bench_rnn.py`` alone. Without
PyTorch the reference column is a NumPy step loop (forward only).
"""
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # `bench` when run as a script
from bench import harness  # noqa: E402

import nerve  # noqa: E402

UNIT = "ms"
NOTES = """Median milliseconds per call (lower is better); `ours/ref` is ref time over ours
(> 1: nerve is faster). 1-thread rows are process CPU time (the machine is shared),
others wall time. Case: module, T x B x I -> H, threads, pass (fwd = forward under
no_grad, fwd+bwd = forward, sum of the outputs, backward). Both sides run the same
weights, validated against each other first (outputs and all gradients).
Command: `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench rnn --save`."""

# (T, B, I, H)
CASES = [(20, 8, 32, 64), (50, 32, 128, 256), (100, 64, 256, 512)]


def _pair(kind, T, B, I, H, rng):
    """A nerve module and a torch module with the same weights, and one input for each."""
    torch = harness.torch
    ours = getattr(nerve.nn, kind)(I, H)
    ref = getattr(torch.nn, kind)(I, H)
    with torch.no_grad():
        for name, p in ref.named_parameters():
            p.copy_(torch.from_numpy(getattr(ours, name).detach().numpy()))
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    return ours, ref, x


def _loss_ours(out):
    y, h = out
    states = h if isinstance(h, tuple) else (h,)
    total = y.sum()
    for s in states:
        total = total + s.sum()
    return total


def _loss_ref(out):
    y, h = out
    states = h if isinstance(h, tuple) else (h,)
    return y.sum() + sum(s.sum() for s in states)


def _validate(kind, ours, ref, x):
    torch = harness.torch
    xo = nerve.tensor(x, requires_grad=True)
    xr = torch.from_numpy(x.copy()).requires_grad_(True)
    lo, lr = _loss_ours(ours(xo)), _loss_ref(ref(xr))
    lo.backward()
    lr.backward()
    yo, yr = ours(nerve.tensor(x))[0].detach().numpy(), ref(torch.from_numpy(x))[0].detach().numpy()
    np.testing.assert_allclose(yo, yr, rtol=1e-3, atol=2e-5, err_msg=f"{kind} output")
    pairs = [("input", xo.grad.numpy(), xr.grad.numpy())]
    pairs += [(n, getattr(ours, n).grad.numpy(), p.grad.numpy()) for n, p in ref.named_parameters()]
    for name, a, b in pairs:
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-3 * max(1.0, np.abs(b).max()),
                                   err_msg=f"{kind} grad {name}")


def _fns(ours, ref, x):
    torch = harness.torch
    xo, xr = nerve.tensor(x), torch.from_numpy(x)
    xo_g = nerve.tensor(x, requires_grad=True)
    xr_g = torch.from_numpy(x.copy()).requires_grad_(True)

    def ours_fwd():
        with nerve.no_grad():
            ours(xo)

    def ref_fwd():
        with torch.no_grad():
            ref(xr)

    def ours_train():
        _loss_ours(ours(xo_g)).backward()

    def ref_train():
        _loss_ref(ref(xr_g)).backward()

    return {"fwd": (ours_fwd, ref_fwd), "fwd+bwd": (ours_train, ref_train)}


def time_cpu(fns, repeat):
    """Median CPU seconds (this process, all threads) per call of each fn, interleaved
    round by round. The machine this runs on is shared: wall time there measures
    the neighbours, CPU time of a 1-thread run measures us. (harness.time_many
    with a clock argument would replace this.)"""
    for fn in fns.values():
        fn()  # warm-up
    samples = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            n, t0 = 0, time.process_time()
            while True:
                fn()
                n += 1
                if time.process_time() - t0 > 0.05:
                    break
            samples[name].append((time.process_time() - t0) / n)
    return {name: statistics.median(v) for name, v in samples.items()}


def run(args):
    if harness.torch is None:
        raise SystemExit("bench rnn: needs PyTorch for the reference (pip install torch)")
    rng = np.random.default_rng(0)
    rows = []
    for threads in args.threads:
        harness.set_threads(threads)
        group = []
        for kind in ("LSTM", "GRU"):
            for T, B, I, H in CASES:
                name = f"{kind} {T}x{B}x{I}->{H} t{threads}"
                if args.filter and args.filter not in name:
                    continue
                ours, ref, x = _pair(kind, T, B, I, H, rng)
                _validate(kind, ours, ref, x)
                big = T * B * H * (I + H) > 1e9
                for what, (fo, fr) in _fns(ours, ref, x).items():
                    fns = {"ours": fo, "torch": fr}
                    t = time_cpu(fns, 3 if big else args.repeat) if threads == 1 else \
                        harness.time_many(fns, repeat=3 if big else args.repeat)
                    group.append({"case": f"{name} {what}", "ref": "torch", "ref_value": 1e3 * t["torch"],
                                  "ours": 1e3 * t["ours"], "ratio": t["torch"] / t["ours"]})
                    harness.print_table(group[-1:], UNIT)
        rows += group
    harness.print_table(rows, UNIT)
    return rows


if __name__ == "__main__":
    from bench.run import main
    main(["rnn"] + sys.argv[1:])
