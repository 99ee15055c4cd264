"""The supervised training loop behind ``nerve train``: optimizer by name,
mini-batches from a DataLoader, a tqdm progress bar (loss, accuracy,
samples/s), evaluation on the test set after every epoch, a checkpoint and
an optional loss-curve plot. Model-specific parts (model, data) come from
the recipes in ``nerve.models``."""
import dataclasses
import io
import os
import sys
import time

import numpy as np

import nerve
from nerve import nn, optim
from nerve.data import DataLoader

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
    schedule: str = "none"  # "cosine": CosineAnnealingLR from lr to 0 over the epochs
    seed: int = 0
    device: str = "cpu"
    num_workers: int = 0
    threads: int = None  # OpenMP threads for the kernels while training (None: leave as is)
    out: str = os.path.join("runs", "model.npz")
    plot: str = None
    progress: bool = True
    distributed: bool = False  # data-parallel over the ranks of nerve.distributed's default group
    steps: int = 0  # optimizer steps, for recipes that draw random batches (language models) instead of epochs
    clip: float = 1.0  # gradient-norm clipping for the language models (0: off)
    label_smoothing: float = 0.0  # GAN: one-sided smoothing of the real label
    sample_every: int = 0  # GAN: write a sample grid every this many steps (0: only at the end)
    options: dict = dataclasses.field(default_factory=dict)  # model sizes etc.: the recipe's options, -o KEY=VALUE


def make_optimizer(name, params, lr, weight_decay):
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}, expected one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, lr, weight_decay)


def digits_split(config):
    """The built-in 8x8 digits in [0, 1], 80/20 stratified split (fixed, seed 0): (train, test) TensorDatasets."""
    from nerve.data import TensorDataset, load_digits, train_test_split
    images, labels = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(images, labels, test_size=0.2, seed=0, stratify=labels)
    return TensorDataset(x_train, y_train), TensorDataset(x_test, y_test)


def evaluate(model, dataset, config, criterion):
    """(mean loss, accuracy) of a classifier over a dataset, in eval mode without gradients."""
    model.eval()
    total_loss, correct, n = 0.0, 0, 0
    with nerve.no_grad():
        for x, y in DataLoader(dataset, batch_size=512):
            x, y = x.to(config.device), y.to(config.device)
            logits = model(x)
            total_loss += float(criterion(logits, y)) * len(y)
            correct += int((logits.argmax(1) == y).sum())
            n += len(y)
    return total_loss / max(n, 1), correct / max(n, 1)


def train_classifier(name, model, train_set, test_set, config, file=None):
    """Train ``model`` with cross-entropy; returns a report dict (and writes the checkpoint)."""
    from tqdm import tqdm

    file = file or sys.stdout
    model.to(config.device)
    criterion = nn.CrossEntropyLoss()
    opt = make_optimizer(config.optimizer, model.parameters(), config.lr, config.weight_decay)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs) if config.schedule == "cosine" else None
    net, sampler, world, lead = model, None, 1, True
    if config.distributed:  # each rank trains on its shard; DDP averages gradients; rank 0 reports and saves
        from nerve import distributed as dist
        from nerve.nn.parallel import DistributedDataParallel
        net = DistributedDataParallel(model)
        sampler = dist.DistributedSampler(train_set, shuffle=True, seed=config.seed)
        world, lead = dist.get_world_size(), dist.get_rank() == 0
        file = file if lead else io.StringIO()
    loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=sampler is None, sampler=sampler,
                        num_workers=config.num_workers)
    history = {"loss": [], "train_accuracy": [], "test_loss": [], "test_accuracy": []}
    start = time.perf_counter()
    seen = 0
    bar = tqdm(total=config.epochs * len(loader), disable=not (config.progress and lead), unit="batch",
               dynamic_ncols=True, file=sys.stderr)
    for epoch in range(config.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        model.train()
        bar.set_description(f"epoch {epoch + 1}/{config.epochs}")
        total_loss, correct, n = 0.0, 0, 0
        for x, y in loader:
            x, y = x.to(config.device), y.to(config.device)
            logits = net(x)
            loss = criterion(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total_loss += float(loss) * len(y)
            correct += int((logits.detach().argmax(1) == y).sum())
            n += len(y)
            seen += len(y) * world  # the shards are the same size
            bar.update(1)
            bar.set_postfix(loss=f"{total_loss / n:.4f}", acc=f"{correct / n:.3f}",
                            samples_s=f"{seen / (time.perf_counter() - start):.0f}")
        if config.distributed:  # this epoch's training loss and accuracy over every rank's shard
            totals = nerve.tensor([total_loss, correct, n], dtype=nerve.float64)
            dist.all_reduce(totals)
            total_loss, correct, n = totals.tolist()
        if scheduler is not None:
            scheduler.step()
        test_loss, test_acc = evaluate(model, test_set, config, criterion)
        history["loss"].append(total_loss / n)
        history["train_accuracy"].append(correct / n)
        history["test_loss"].append(test_loss)
        history["test_accuracy"].append(test_acc)
        bar.set_postfix(loss=f"{total_loss / n:.4f}", acc=f"{correct / n:.3f}", test_acc=f"{test_acc:.3f}")
    bar.close()
    seconds = time.perf_counter() - start
    report = {"model": name, "test_accuracy": history["test_accuracy"][-1], "test_loss": history["test_loss"][-1],
              "train_loss": history["loss"][-1], "epochs": config.epochs, "seconds": seconds,
              "samples_per_second": seen / seconds, "train_samples": len(train_set), "test_samples": len(test_set),
              "parameters": sum(p.numel() for p in model.parameters()), "checkpoint": config.out}
    if lead:
        save_checkpoint(config.out, name, model, opt, config, history, report)
    print(f"{name}: test accuracy {report['test_accuracy'] * 100:.2f}% ({len(test_set)} samples), "
          f"test loss {report['test_loss']:.4f}, train loss {report['train_loss']:.4f}", file=file)
    print(f"{name}: {config.epochs} epochs in {seconds:.1f} s ({report['samples_per_second']:.0f} samples/s), "
          f"{report['parameters']} parameters, {config.optimizer} lr={config.lr} on {config.device}", file=file)
    print(f"{name}: checkpoint written to {config.out}", file=file)
    if config.plot and lead:
        report["plot"] = plot_history(history, config.plot, name, file)
    return report


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
