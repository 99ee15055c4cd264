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
weights, validated against each other first (outputs and all gradients); before that,
float64 parity with torch of 2-layer bidirectional LSTM/GRU/RNN(tanh, relu) with initial
states and lengths (vs pack_padded_sequence, unsorted) is checked to 1e-10.
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


def validate_semantics():
    """float64 parity with PyTorch beyond the timed cases: 2 layers, bidirectional,
    batch_first, initial states, and lengths against pack_padded_sequence (unsorted)."""
    torch = harness.torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    rng = np.random.default_rng(1)
    T, B, I, H, L, D = 5, 4, 3, 6, 2, 2
    lengths = np.array([5, 2, 4, 1])
    for kind, kw in (("LSTM", {}), ("GRU", {}), ("RNN", {"nonlinearity": "relu"}), ("RNN", {})):
        for bf in (False, True):
            ref = getattr(torch.nn, kind)(I, H, L, bidirectional=True, batch_first=bf, dtype=torch.float64, **kw)
            ours = getattr(nerve.nn, kind)(I, H, L, bidirectional=True, batch_first=bf, dtype=nerve.float64, **kw)
            ours.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
            x = rng.standard_normal((B, T, I) if bf else (T, B, I))
            h0, c0 = rng.standard_normal((2, L * D, B, H))
            xr, xo = torch.tensor(x, requires_grad=True), nerve.tensor(x, requires_grad=True)
            hr = (torch.tensor(h0), torch.tensor(c0)) if kind == "LSTM" else torch.tensor(h0)
            ho = (nerve.tensor(h0), nerve.tensor(c0)) if kind == "LSTM" else nerve.tensor(h0)
            packed = pack_padded_sequence(xr, torch.tensor(lengths), batch_first=bf, enforce_sorted=False)
            out_r, st_r = ref(packed, hr)
            yr = pad_packed_sequence(out_r, batch_first=bf, total_length=T)[0]
            yo, st_o = ours(xo, ho, lengths=lengths)
            st_r, st_o = (st_r, st_o) if kind == "LSTM" else ((st_r,), (st_o,))
            (yr.sum() + sum(s.sum() for s in st_r)).backward()
            _loss_ours((yo, st_o)).backward()
            pairs = [(yo, yr), (xo.grad, xr.grad)] + list(zip(st_o, st_r))
            pairs += [(getattr(ours, n).grad, p.grad) for n, p in ref.named_parameters()]
            for a, b in pairs:
                np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12,
                                           err_msg=f"{kind} {kw} batch_first={bf}")
    print("bench rnn: float64 parity with torch (2 layers, bidirectional, lengths, batch_first): ok", flush=True)


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
    validate_semantics()
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
