"""Models suite: whole training steps (forward + loss + backward [+ clipping] +
optimizer step) of nerve's ready models (nerve.models) against the same
architecture written in PyTorch, CPU, float32, in milliseconds per step.

Run: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench models --threads 1 --clock cpu --save
--tag cpu-clock`` (shared machine), or ``--threads 2`` for wall time.
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # `bench` when run as a script
from bench import harness  # noqa: E402

import nerve  # noqa: E402
from nerve import optim  # noqa: E402
from nerve.models.char_lm import CharLM  # noqa: E402
from nerve.models.cnn import LeNet  # noqa: E402
from nerve.models.transformer_lm import TransformerLM  # noqa: E402
from nerve.nn import functional as F  # noqa: E402
from nerve.nn.utils import clip_grad_norm_  # noqa: E402

UNIT = "ms"
NOTES = """Median milliseconds per training step (lower is better); `ours/ref` is torch time over
nerve time (> 1: nerve is faster); `ours samples/s` and `torch samples/s` are batch items
(images or sequences) per second. A step is zero_grad, forward, cross-entropy, backward,
gradient clipping to norm 1 (language models only) and the optimizer step (Adam lr 1e-3;
AdamW lr 1e-3 weight decay 0.01 for the Transformer), on one fixed random batch. The
PyTorch models are the same architectures with the same parameter names; parameter counts
are asserted equal. Before timing, each pair is validated in float32 with nerve's weights
copied into the torch model (dropout 0): the loss, every gradient, and the loss after one
optimizer step must agree. Cases: LeNet (nerve.models.cnn.LeNet, dropout 0.25 when timed)
on 64 1x8x8 digits and on 32 3x32x32 images (width 32); CharLM (embed 64, hidden 256,
vocab 65) with an LSTM or GRU on 32 x 64 characters; TransformerLM (2 layers, d 128,
4 heads, context 64, vocab 65, tied head) on 32 x 64 tokens. Timing: warm-up, then
interleaved rounds (nerve, torch, nerve, ...), median; `--clock cpu` is the CPU time of the
calling thread (1 thread; equal to the process CPU time here, so no work runs on other
threads), otherwise wall time. Profile (cProfile, 1 thread, 2026-11-25): the TransformerLM
step spends ~26 ms of its ~100 ms in nn.GELU (gelu_forward + gelu_backward, scalar
std::erf, ~8 ms per forward on 32x64x512 floats where torch takes ~0.5 ms); the rest is
mostly GEMM."""

VOCAB = 65


# ----------------------------------------------------------------- PyTorch twins
def _torch_models():
    torch = harness.torch
    tnn = torch.nn

    class TorchLeNet(tnn.Module):
        def __init__(self, in_channels=1, num_classes=10, width=32, image_size=8, dropout=0.25):
            super().__init__()
            self.features = tnn.Sequential(
                tnn.Conv2d(in_channels, width, 3, padding=1), tnn.BatchNorm2d(width), tnn.ReLU(), tnn.MaxPool2d(2),
                tnn.Conv2d(width, 2 * width, 3, padding=1), tnn.BatchNorm2d(2 * width), tnn.ReLU(),
                tnn.MaxPool2d(2))
            flat = 2 * width * (image_size // 4) ** 2
            self.classifier = tnn.Sequential(tnn.Flatten(), tnn.Dropout(dropout), tnn.Linear(flat, 128), tnn.ReLU(),
                                             tnn.Linear(128, num_classes))

        def forward(self, x):
            return self.classifier(self.features(x))

    class TorchCharLM(tnn.Module):
        def __init__(self, vocab_size, embed_dim=64, hidden_size=256, cell="lstm"):
            super().__init__()
            self.embed = tnn.Embedding(vocab_size, embed_dim)
            self.rnn = (tnn.LSTM if cell == "lstm" else tnn.GRU)(embed_dim, hidden_size, batch_first=True)
            self.head = tnn.Linear(hidden_size, vocab_size)

        def forward(self, ids):
            out, state = self.rnn(self.embed(ids))
            return self.head(out), state

    class Attn(tnn.Module):
        def __init__(self, d, h):
            super().__init__()
            self.n_heads = h
            self.qkv = tnn.Linear(d, 3 * d)
            self.proj = tnn.Linear(d, d)

        def forward(self, x):
            n, t, c = x.shape
            qkv = self.qkv(x).reshape(n, t, 3, self.n_heads, c // self.n_heads).permute(2, 0, 3, 1, 4)
            y = tnn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], is_causal=True)
            return self.proj(y.transpose(1, 2).reshape(n, t, c))

    class Block(tnn.Module):
        def __init__(self, d, h):
            super().__init__()
            self.ln1 = tnn.LayerNorm(d)
            self.attn = Attn(d, h)
            self.ln2 = tnn.LayerNorm(d)
            self.mlp = tnn.Sequential(tnn.Linear(d, 4 * d), tnn.GELU(), tnn.Linear(4 * d, d), tnn.Dropout(0.0))

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))

    class TorchTransformerLM(tnn.Module):
        def __init__(self, vocab_size, d_model=128, n_heads=4, n_layers=2, context=128):
            super().__init__()
            self.tok = tnn.Embedding(vocab_size, d_model)
            self.pos = tnn.Embedding(context, d_model)
            self.drop = tnn.Dropout(0.0)
            self.blocks = tnn.Sequential(*[Block(d_model, n_heads) for _ in range(n_layers)])
            self.ln_f = tnn.LayerNorm(d_model)
            self.head = tnn.Linear(d_model, vocab_size, bias=False)
            self.head.weight = self.tok.weight

        def forward(self, ids):
            t = ids.shape[1]
            x = self.tok(ids) + self.pos(torch.arange(t))
            return self.head(self.ln_f(self.blocks(self.drop(x))))

    return TorchLeNet, TorchCharLM, TorchTransformerLM


# ----------------------------------------------------------------- cases
def _cases():
    """(name, batch, nerve factory(dropout), torch factory(dropout), input maker(rng), optimizer, clip)."""
    TorchLeNet, TorchCharLM, TorchTransformerLM = _torch_models()
    lenet_kw = dict(in_channels=3, image_size=32, width=32)
    lm = dict(embed_dim=64, hidden_size=256)
    tlm = dict(d_model=128, n_heads=4, n_layers=2, context=64)

    def images(n, c, s):
        return lambda rng: (rng.random((n, c, s, s), dtype=np.float32), rng.integers(0, 10, n))

    def text(n, t):
        return lambda rng: (rng.integers(0, VOCAB, (n, t)), rng.integers(0, VOCAB, (n, t)))

    return [
        ("LeNet 64x1x8x8 Adam", 64,
         lambda d: LeNet(dropout=d), lambda d: TorchLeNet(dropout=d), images(64, 1, 8), "adam", 0.0),
        ("LeNet 32x3x32x32 w32 Adam", 32,
         lambda d: LeNet(dropout=d, **lenet_kw), lambda d: TorchLeNet(dropout=d, **lenet_kw),
         images(32, 3, 32), "adam", 0.0),
        ("CharLM LSTM 32x64 h256 Adam clip", 32,
         lambda d: CharLM(VOCAB, cell="lstm", **lm), lambda d: TorchCharLM(VOCAB, cell="lstm", **lm),
         text(32, 64), "adam", 1.0),
        ("CharLM GRU 32x64 h256 Adam clip", 32,
         lambda d: CharLM(VOCAB, cell="gru", **lm), lambda d: TorchCharLM(VOCAB, cell="gru", **lm),
         text(32, 64), "adam", 1.0),
        ("TransformerLM 2L d128 32x64 AdamW clip", 32,
         lambda d: TransformerLM(VOCAB, **tlm), lambda d: TorchTransformerLM(VOCAB, **tlm),
         text(32, 64), "adamw", 1.0),
    ]


def _optimizers(kind, ours, ref):
    torch = harness.torch
    if kind == "adam":
        return optim.Adam(ours.parameters(), lr=1e-3), torch.optim.Adam(ref.parameters(), lr=1e-3)
    return (optim.AdamW(ours.parameters(), lr=1e-3, weight_decay=0.01),
            torch.optim.AdamW(ref.parameters(), lr=1e-3, weight_decay=0.01))


def _logits(out):
    return out[0] if isinstance(out, tuple) else out


def _steps(ours, ref, opt_o, opt_r, x, y, clip):
    """The two training-step closures; each returns its loss tensor."""
    torch = harness.torch
    xo, yo = nerve.tensor(x), nerve.tensor(y)
    xr, yr = torch.from_numpy(x), torch.from_numpy(y)

    def ours_step():
        opt_o.zero_grad()
        logits = _logits(ours(xo))
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), yo.reshape(-1))
        loss.backward()
        if clip:
            clip_grad_norm_(ours.parameters(), clip)
        opt_o.step()
        return loss

    def ref_step():
        opt_r.zero_grad()
        logits = _logits(ref(xr))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), yr.reshape(-1))
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(ref.parameters(), clip)
        opt_r.step()
        return loss

    return ours_step, ref_step


def _count(params):
    return sum(int(np.prod(p.shape)) for p in params)


def _pair(make_ours, make_ref, dropout):
    """A nerve model and its torch twin holding the same weights; asserts the same parameters."""
    torch = harness.torch
    ours, ref = make_ours(dropout), make_ref(dropout)
    names_o = {n: tuple(p.shape) for n, p in ours.named_parameters()}
    names_r = {n: tuple(p.shape) for n, p in ref.named_parameters()}
    assert names_o == names_r, f"parameter names/shapes differ:\n{names_o}\n{names_r}"
    n_o, n_r = _count(ours.parameters()), _count(ref.parameters())
    assert n_o == n_r, f"parameter counts differ: nerve {n_o}, torch {n_r}"
    sd = {k: torch.from_numpy(np.array(v.numpy())) for k, v in ours.state_dict().items()}
    missing, unexpected = ref.load_state_dict(sd, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    return ours, ref, n_o


def _validate(name, make_ours, make_ref, make_input, opt_kind, clip, rng):
    """Same weights, dropout 0: the loss, every (clipped) gradient, and the loss after one
    optimizer step agree (a step zeroes the gradients first, so they survive it)."""
    ours, ref, _ = _pair(make_ours, make_ref, 0.0)
    x, y = make_input(rng)
    opt_o, opt_r = _optimizers(opt_kind, ours, ref)
    so, sr = _steps(ours, ref, opt_o, opt_r, x, y, clip)
    lo, lr = float(so().detach().numpy()), float(sr().detach())
    assert abs(lo - lr) <= 1e-4 * max(1.0, abs(lr)), f"{name}: loss nerve {lo} torch {lr}"
    params_r = dict(ref.named_parameters())
    for n, p in ours.named_parameters():
        g_o, g_r = p.grad.numpy(), params_r[n].grad.numpy()
        np.testing.assert_allclose(g_o, g_r, rtol=2e-3, atol=2e-3 * max(1e-3, float(np.abs(g_r).max())),
                                   err_msg=f"{name}: grad {n}")
    lo1, lr1 = float(so().detach().numpy()), float(sr().detach())
    assert abs(lo1 - lr1) <= 2e-4 * max(1.0, abs(lr1)), f"{name}: loss after one step nerve {lo1} torch {lr1}"
    print(f"bench models: {name}: loss nerve {lo:.6f} torch {lr:.6f}, after one step nerve {lo1:.6f} "
          f"torch {lr1:.6f}, gradients agree", flush=True)


def run(args):
    torch = harness.torch
    if torch is None:
        raise SystemExit("bench models: needs PyTorch for the reference (pip install torch)")
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    cases = [c for c in _cases() if not args.filter or args.filter in c[0]]
    rows = []
    for threads in args.threads:
        harness.set_threads(threads)
        for name, batch, make_ours, make_ref, make_input, opt_kind, clip in cases:
            rng = np.random.default_rng(0)
            if threads == args.threads[0]:
                _validate(name, make_ours, make_ref, make_input, opt_kind, clip, rng)
            ours, ref, n_params = _pair(make_ours, make_ref, 0.25)
            ours.train(), ref.train()
            x, y = make_input(rng)
            opt_o, opt_r = _optimizers(opt_kind, ours, ref)
            so, sr = _steps(ours, ref, opt_o, opt_r, x, y, clip)
            t = harness.time_many({"ours": so, "torch": sr}, repeat=args.repeat, min_time=0.2, warmup=3,
                                  clock=clock)
            rows.append({"case": f"{name} t{threads}", "ref": "torch", "ref_value": 1e3 * t["torch"],
                         "ours": 1e3 * t["ours"], "ratio": t["torch"] / t["ours"],
                         "ours samples/s": batch / t["ours"], "torch samples/s": batch / t["torch"],
                         "params": n_params})
            harness.print_table(rows[-1:], UNIT)
    harness.print_table(rows, UNIT)
    return rows


if __name__ == "__main__":
    from bench.run import main
    main(["models"] + sys.argv[1:])
