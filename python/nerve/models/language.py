"""Training of the character-level language models behind ``nerve train
char-lstm | char-gru | transformer``.

Data: the built-in corpus (nerve.data.load_text_corpus) as character ids, the
first 90% for training and the last 10% for validation. Each step draws
`batch_size` fresh random windows of `seq_len + 1` characters (no state is
carried between windows, so no truncated-BPTT bookkeeping), predicts every
next character, and takes an optimizer step after clipping the gradient
norm. Losses are in nats per character; the report sets them against the
unigram entropy of the training text, the loss of a model that knows the
character frequencies and nothing else.
"""
import functools
import sys
import time

import numpy as np

import nerve
from nerve import optim
from nerve.models.char_lm import Vocabulary
from nerve.models.training import make_optimizer, save_checkpoint
from nerve.nn import functional as F


class TextData:
    """A text as ids over its Vocabulary, split into a training head and a validation tail."""

    def __init__(self, text, val_fraction=0.1):
        self.vocab = Vocabulary(text)
        ids = self.vocab.encode(text)
        cut = int(len(ids) * (1 - val_fraction))
        self.train, self.val = ids[:cut], ids[cut:]

    def unigram_entropy(self):
        """Entropy of the training text's character frequencies, in nats per character."""
        counts = np.bincount(self.train, minlength=len(self.vocab))
        p = counts[counts > 0] / counts.sum()
        return float(-(p * np.log(p)).sum())


@functools.lru_cache(maxsize=1)
def corpus():
    """The built-in corpus as TextData (cached: the recipes' build and data both need it)."""
    from nerve.data import load_text_corpus
    return TextData(load_text_corpus())


def random_windows(ids, batch, length, rng):
    """`batch` random windows of ids: inputs (batch, length) and next-character targets (batch, length)."""
    starts = rng.integers(0, len(ids) - length, size=batch)
    w = ids[starts[:, None] + np.arange(length + 1)]
    return w[:, :-1], w[:, 1:]


def lm_loss(model, x, y):
    """Mean next-character cross-entropy; CharLM returns (logits, state), TransformerLM logits."""
    out = model(x)
    logits = out[0] if isinstance(out, tuple) else out
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


@nerve.no_grad()
def evaluate_lm(model, ids, seq_len, batch, batches, device, seed=1234):
    """Mean loss (nats/char) over `batches` fixed random windows of ids (the same ones every call)."""
    was_training = model.training
    model.eval()
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(batches):
        x, y = random_windows(ids, batch, seq_len, rng)
        total += float(lm_loss(model, nerve.tensor(x).to(device), nerve.tensor(y).to(device)))
    model.train(was_training)
    return total / batches


def train_language_model(name, model, data, _unused, config, file=None):
    """Train a next-character model on TextData for config.steps steps; returns the report dict."""
    from tqdm import tqdm

    file = file or sys.stdout
    o = config.options
    seq_len, batch, steps = int(o["seq_len"]), config.batch_size, config.steps
    model.to(config.device)
    opt = make_optimizer(config.optimizer, model.parameters(), config.lr, config.weight_decay)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps) if config.schedule == "cosine" else None
    rng = np.random.default_rng(config.seed)
    eval_every = max(1, steps // 4)
    evaluate = functools.partial(evaluate_lm, model, seq_len=seq_len, batch=batch,
                                 batches=int(o["eval_batches"]), device=config.device)
    history = {"step": [], "loss": [], "val_loss": []}
    bar = tqdm(total=steps, disable=not config.progress, unit="step", dynamic_ncols=True, file=sys.stderr)
    start, smooth = time.perf_counter(), None
    model.train()
    for step in range(1, steps + 1):
        x, y = random_windows(data.train, batch, seq_len, rng)
        loss = lm_loss(model, nerve.tensor(x).to(config.device), nerve.tensor(y).to(config.device))
        opt.zero_grad()
        loss.backward()
        if config.clip > 0:
            nerve.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        opt.step()
        if scheduler is not None:  # per step: cosine from lr to 0 over the run
            scheduler.step()
        value = float(loss)
        smooth = value if smooth is None else 0.95 * smooth + 0.05 * value
        bar.update(1)
        bar.set_postfix(loss=f"{smooth:.3f}", chars_s=f"{step * batch * seq_len / (time.perf_counter() - start):.0f}")
        if step % eval_every == 0 or step == steps:
            history["step"].append(step)
            history["loss"].append(smooth)
            history["val_loss"].append(evaluate(data.val))
            bar.set_postfix(loss=f"{smooth:.3f}", val_loss=f"{history['val_loss'][-1]:.3f}")
    bar.close()
    seconds = time.perf_counter() - start
    entropy = data.unigram_entropy()
    report = {"model": name, "train_loss": evaluate(data.train), "val_loss": history["val_loss"][-1],
              "unigram_entropy": entropy, "steps": steps, "seconds": seconds,
              "chars_per_second": steps * batch * seq_len / seconds,
              "parameters": sum(p.numel() for p in model.parameters()), "vocab": "".join(data.vocab.chars),
              "checkpoint": config.out}
    sample_rng = np.random.default_rng(config.seed)
    prompt, length = o["prompt"], int(o["sample_length"])
    report["sample"] = model.sample(data.vocab, prompt, length, temperature=float(o["temperature"]), rng=sample_rng)
    if o.get("greedy_sample"):  # also the most likely continuation
        report["greedy_sample"] = model.sample(data.vocab, prompt, length, temperature=0)
    save_checkpoint(config.out, name, model, opt, config, history, report)
    print(f"{name}: train loss {report['train_loss']:.3f}, validation loss {report['val_loss']:.3f} nats/char "
          f"({report['val_loss'] / np.log(2):.3f} bits/char); unigram entropy of the corpus {entropy:.3f} nats/char",
          file=file)
    print(f"{name}: {steps} steps of {batch}x{seq_len} chars in {seconds:.1f} s "
          f"({report['chars_per_second']:.0f} chars/s), {report['parameters']} parameters, "
          f"{config.optimizer} lr={config.lr} on {config.device}", file=file)
    print(f"{name}: sample (temperature {o['temperature']}):\n{report['sample']}", file=file)
    if "greedy_sample" in report:
        print(f"{name}: greedy sample:\n{report['greedy_sample']}", file=file)
    print(f"{name}: checkpoint written to {config.out}", file=file)
    return report
