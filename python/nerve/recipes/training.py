"""The one training loop behind ``nerve train``.

``fit(task)`` runs it: a tqdm progress bar, ``config.epochs`` passes over a
loader or ``config.steps`` freshly drawn batches, the learning-rate
schedule, timing, the checkpoint, the printed report and (classifiers) the
loss-curve plot. What differs between recipes is a Task: how batches come,
what one training step does, what is evaluated and reported. The Tasks are
in classification.py, language.py, seq2seq.py and gan.py.
"""
import dataclasses
import io
import os
import sys
import time

import numpy as np

import nerve
from nerve import optim

OPTIMIZERS = {
    "sgd": lambda params, lr, wd: optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd),
    "adam": lambda params, lr, wd: optim.Adam(params, lr=lr, weight_decay=wd),
    "adamw": lambda params, lr, wd: optim.AdamW(params, lr=lr, weight_decay=wd),
    "rmsprop": lambda params, lr, wd: optim.RMSprop(params, lr=lr, weight_decay=wd),
    "adagrad": lambda params, lr, wd: optim.Adagrad(params, lr=lr, weight_decay=wd),
}


@dataclasses.dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    schedule: str = "none"  # "cosine": CosineAnnealingLR from lr to 0 over the epochs (or steps)
    seed: int = 0
    device: str = "cpu"
    num_workers: int = 0
    threads: int = None  # OpenMP threads for the kernels while training (None: leave as is)
    out: str = os.path.join("runs", "model.npz")  # the checkpoint; None: none written
    plot: str = None
    progress: bool = True
    distributed: bool = False  # data-parallel over the ranks of nerve.distributed's default group
    steps: int = 0  # optimizer steps, for recipes that draw random batches (language models) instead of epochs
    clip: float = 1.0  # gradient-norm clipping for the language models (0: off)
    label_smoothing: float = 0.0  # GAN: one-sided smoothing of the real label
    sample_every: int = 0  # GAN: write a sample grid every this many steps (0: only at the end)
    options: dict = dataclasses.field(default_factory=dict)  # model sizes etc.: the recipe's options, -o KEY=VALUE
    autocast: str = None  # "bf16": train steps and evaluation under nerve.autocast(device, bfloat16); None: float32


AUTOCAST = {"bf16": nerve.bfloat16}


def autocast(config):
    """The mixed-precision region of a step (nerve.autocast on config.device), or one that does nothing."""
    if config.autocast is not None and config.autocast not in AUTOCAST:
        raise ValueError(f"unknown autocast {config.autocast!r}, expected one of {', '.join(AUTOCAST)}")
    return nerve.autocast(nerve.device(config.device).type, dtype=AUTOCAST.get(config.autocast),
                          enabled=config.autocast is not None)


def make_optimizer(name, params, lr, weight_decay):
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}, expected one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, lr, weight_decay)


class Task:
    """One kind of training, as ``fit`` drives it. A subclass sets the class attributes and defines
    ``train_step``, ``report`` and ``summary``, and either ``self.loader`` (by_epoch) or ``draw``."""

    unit = "step"  # what one tick of the progress bar is
    by_epoch = False  # True: config.epochs passes over self.loader; False: config.steps batches from draw()
    distributed = False  # works under --distributed (each rank trains on a shard)
    plots = False  # --plot draws its history (per-epoch loss and accuracy)

    def __init__(self, name, model, train_set, test_set, config):
        self.name, self.model, self.train_set, self.test_set, self.config = name, model, train_set, test_set, config
        self.options = config.options
        self.lead = True  # False on the ranks after the first of a distributed run: they neither print nor save
        self.history = {}
        self.start, self.file = None, None  # set by fit: when training started, where the report goes
        model.to(config.device)
        self.opt = self.make_optimizer()
        self.scheduler = self.make_scheduler()

    def make_optimizer(self):
        """config.optimizer over all of the model's parameters."""
        c = self.config
        return make_optimizer(c.optimizer, self.model.parameters(), c.lr, c.weight_decay)

    def make_scheduler(self):
        """With --schedule cosine: lr to 0 over the run, stepped per epoch (by_epoch) or per step; else None."""
        if self.config.schedule != "cosine":
            return None
        span = self.config.epochs if self.by_epoch else self.config.steps
        return optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=span)

    def steps_per_epoch(self):
        return len(self.loader) if self.by_epoch else self.config.steps

    def batches(self, epoch):
        """One epoch's batches: the loader's (by_epoch), else config.steps batches drawn fresh."""
        return self.loader if self.by_epoch else (self.draw() for _ in range(self.config.steps))

    def draw(self):
        """A fresh training batch (recipes that are not by_epoch)."""
        raise NotImplementedError

    def update(self, loss, clip=0.0):
        """One optimizer step on `loss`, the gradient norm clipped to `clip` first when > 0."""
        self.opt.zero_grad()
        loss.backward()
        if clip > 0:
            nerve.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        self.opt.step()

    def train_step(self, batch):
        """Train on one batch; returns the progress bar's fields."""
        raise NotImplementedError

    def end_epoch(self, epoch):
        """After each epoch (or the whole run when not by_epoch): evaluate; returns bar fields, or None."""
        return None

    def report(self, seconds):
        """After training: the task's results (a dict, saved in the checkpoint)."""
        raise NotImplementedError

    def summary(self, report):
        """The lines printed at the end, from the full report (with model, seconds, parameters, checkpoint)."""
        raise NotImplementedError

    def trained_with(self, report):
        """'<n> parameters, <optimizer> lr=<lr> on <device>', for the summaries."""
        c = self.config
        amp = f", autocast {c.autocast}" if c.autocast else ""
        return f"{report['parameters']} parameters, {c.optimizer} lr={c.lr} on {c.device}{amp}"

    def checkpoint_line(self):
        return f"{self.name}: checkpoint written to {self.config.out}"

    def per_second(self, count):
        """`count` things since training started, per second, for the progress bar."""
        return f"{count / (time.perf_counter() - self.start):.0f}"


# Seconds between progress-bar redraws: a redraw per batch wrote 286 KB of log in a 2-second run.
PROGRESS_INTERVAL = 0.5


def fit(task, file=None):
    """Train as `task` says; write the checkpoint, print the task's summary to `file` (stdout); return the report.

    Progress goes to stderr: a tqdm bar redrawn at most every PROGRESS_INTERVAL seconds on a
    terminal; otherwise (a log file, a pipe) one plain line per epoch (per tenth of the run for
    the step-based tasks)."""
    from tqdm import tqdm

    config, model = task.config, task.model
    file = task.file = (file or sys.stdout) if task.lead else io.StringIO()
    epochs = config.epochs if task.by_epoch else 1
    show = config.progress and task.lead
    interactive = show and _is_terminal(sys.stderr)
    bar = tqdm(total=epochs * task.steps_per_epoch(), disable=not interactive, unit=task.unit,
               dynamic_ncols=True, file=sys.stderr, mininterval=PROGRESS_INTERVAL)
    log = _PlainProgress(epochs, task.steps_per_epoch(), task.by_epoch, task.unit) if show and not interactive else None
    task.start = time.perf_counter()
    for epoch in range(epochs):
        if task.by_epoch:
            bar.set_description(f"epoch {epoch + 1}/{epochs}", refresh=False)
        model.train()
        postfix = {}
        for step, batch in enumerate(task.batches(epoch)):
            with autocast(config):  # one region per step: the parameters' bf16 casts are made once a step
                postfix = task.train_step(batch)
            if task.scheduler is not None and not task.by_epoch:
                task.scheduler.step()
            bar.set_postfix(**postfix, refresh=False)
            bar.update(1)  # redraws only when PROGRESS_INTERVAL has passed
            if log is not None and not task.by_epoch:
                log.step(step + 1, postfix, time.perf_counter() - task.start)
        if task.scheduler is not None and task.by_epoch:
            task.scheduler.step()
        with autocast(config):
            postfix = {**postfix, **(task.end_epoch(epoch) or {})}
        if postfix:
            bar.set_postfix(**postfix)
        if log is not None and task.by_epoch:
            log.epoch(epoch + 1, postfix, time.perf_counter() - task.start)
    bar.close()
    seconds = time.perf_counter() - task.start
    with autocast(config):
        results = task.report(seconds)
    report = {"model": task.name, **results, "seconds": seconds,
              "parameters": sum(p.numel() for p in model.parameters()), "checkpoint": config.out}
    if task.lead and config.out:
        save_checkpoint(config.out, task.name, model, task.opt, config, task.history, report)
    for line in task.summary(report):
        print(line, file=file)
    if config.plot and task.lead and task.plots:
        report["plot"] = plot_history(task.history, config.plot, task.name, file)
    return report


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class _PlainProgress:
    """Progress as plain lines on stderr, for logs: 'epoch 3/30: loss=0.41 acc=0.93 (2.1 s)'."""

    def __init__(self, epochs, steps, by_epoch, unit):
        self.epochs, self.steps, self.unit = epochs, steps, unit
        self.every = 1 if by_epoch else max(1, steps // 10)

    @staticmethod
    def _fields(postfix):
        return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in postfix.items())

    def epoch(self, epoch, postfix, seconds):
        print(f"epoch {epoch}/{self.epochs}: {self._fields(postfix)} ({seconds:.1f} s)", file=sys.stderr, flush=True)

    def step(self, step, postfix, seconds):
        if step % self.every == 0 or step == self.steps:
            print(f"{self.unit} {step}/{self.steps}: {self._fields(postfix)} ({seconds:.1f} s)", file=sys.stderr,
                  flush=True)


def save_checkpoint(path, name, model, opt, config, history, report):
    """{'model_name', 'model', 'optimizer', 'config', 'history', 'report'} via nerve.save (atomic)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    nerve.save({"model_name": name, "model": model.state_dict(), "optimizer": opt.state_dict(),
                "config": dataclasses.asdict(config), "history": history,
                "report": {k: v for k, v in report.items() if k != "checkpoint"}}, path)


def plot_history(history, path, name, file):
    """Loss and accuracy curves as a PNG; returns the path, or None without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"{name}: --plot needs matplotlib, which is not installed (pip install matplotlib); "
              "no plot written", file=file)
        return None
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, history["loss"], label="train")
    ax1.plot(epochs, history["test_loss"], label="test")
    ax1.set(xlabel="epoch", ylabel="cross-entropy loss", title=f"{name}: loss")
    ax1.legend()
    ax2.plot(epochs, history["train_accuracy"], label="train")
    ax2.plot(epochs, history["test_accuracy"], label="test")
    ax2.set(xlabel="epoch", ylabel="accuracy", title=f"{name}: accuracy")
    ax2.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"{name}: loss curve written to {path}", file=file)
    return path
