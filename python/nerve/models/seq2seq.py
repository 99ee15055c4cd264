"""The synthetic task behind ``nerve train seq2seq``: reverse a string of
random digits with an encoder-decoder Transformer.

Tokens 0-9 are the digits and BOS (10) starts every decoder input. Training
draws fresh strings each step (teacher forcing: the decoder reads BOS plus the
reversed string shifted right); the held-out strings are decoded greedily, one
token at a time from BOS, and scored per token and per whole string.
"""
import sys
import time

import numpy as np

import nerve
from nerve import optim
from nerve.models.training import make_optimizer, save_checkpoint
from nerve.nn import functional as F

BOS = 10
VOCAB = 11


def reversal_batch(rng, batch, length):
    """src (batch, length) random digits; decoder input BOS + reversed[:-1]; target the reversed string."""
    src = rng.integers(0, 10, size=(batch, length))
    tgt = src[:, ::-1]
    tgt_in = np.concatenate([np.full((batch, 1), BOS), tgt[:, :-1]], axis=1)
    return src, tgt_in, np.ascontiguousarray(tgt)


def reversal_data(config):
    """(None, held-out (src, target)): training strings are drawn fresh every step."""
    o = config.options
    src, _, tgt = reversal_batch(np.random.default_rng(10_000 + config.seed), int(o["test_size"]), int(o["length"]))
    return None, (src, tgt)


@nerve.no_grad()
def greedy_decode(model, src, length, device):
    """Decode src (N, S) greedily from BOS for `length` tokens -> (N, length) int64."""
    was_training = model.training
    model.eval()
    src_t = nerve.tensor(src, device=device)
    out = np.full((len(src), 1), BOS, dtype=np.int64)
    for _ in range(length):
        logits = model(src_t, nerve.tensor(out, device=device)).numpy()
        out = np.concatenate([out, logits[:, -1].argmax(-1)[:, None]], axis=1)
    model.train(was_training)
    return out[:, 1:]


def train_seq2seq(name, model, _unused, test, config, file=None):
    """Train the reversal task for config.steps steps; report greedy token and sequence accuracy."""
    from tqdm import tqdm

    file = file or sys.stdout
    length = int(config.options["length"])
    model.to(config.device)
    opt = make_optimizer(config.optimizer, model.parameters(), config.lr, config.weight_decay)
    scheduler = (optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.steps) if config.schedule == "cosine"
                 else None)
    rng = np.random.default_rng(config.seed)
    history = {"loss": [], "accuracy": []}
    bar = tqdm(total=config.steps, disable=not config.progress, unit="step", dynamic_ncols=True, file=sys.stderr)
    start = time.perf_counter()
    model.train()
    for _ in range(config.steps):
        src, tgt_in, tgt = (nerve.tensor(a, device=config.device)
                            for a in reversal_batch(rng, config.batch_size, length))
        logits = model(src, tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), tgt.reshape(-1))
        opt.zero_grad()
        loss.backward()
        if config.clip > 0:
            nerve.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        opt.step()
        if scheduler is not None:  # per step: cosine from lr to 0 over the run
            scheduler.step()
        history["loss"].append(float(loss))
        history["accuracy"].append(float((logits.detach().argmax(-1) == tgt).float().mean()))
        bar.update(1)
        bar.set_postfix(loss=f"{history['loss'][-1]:.4f}", token_acc=f"{history['accuracy'][-1]:.3f}")
    bar.close()
    seconds = time.perf_counter() - start
    src, tgt = test
    pred = greedy_decode(model, src, length, config.device)
    report = {"model": name, "token_accuracy": float((pred == tgt).mean()),
              "sequence_accuracy": float((pred == tgt).all(1).mean()), "train_loss": history["loss"][-1],
              "steps": config.steps, "seconds": seconds, "test_samples": len(src),
              "parameters": sum(p.numel() for p in model.parameters()), "checkpoint": config.out}
    save_checkpoint(config.out, name, model, opt, config, history, report)
    print(f"{name}: greedy decoding of {len(src)} held-out strings of {length} digits: token accuracy "
          f"{report['token_accuracy'] * 100:.2f}%, whole-string accuracy {report['sequence_accuracy'] * 100:.2f}%",
          file=file)
    print(f"{name}: {config.steps} steps of {config.batch_size} strings in {seconds:.1f} s, train loss "
          f"{report['train_loss']:.4f}, {report['parameters']} parameters, {config.optimizer} lr={config.lr} "
          f"on {config.device}", file=file)
    print(f"{name}: e.g. {''.join(map(str, src[0]))} -> {''.join(map(str, pred[0]))}", file=file)
    print(f"{name}: checkpoint written to {config.out}", file=file)
    return report
