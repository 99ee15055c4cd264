"""Generative adversarial networks: an MLP GAN, a DCGAN for 8x8 digits, and
a trainer that watches for the usual failures.

Losses are the non-saturating ones of Goodfellow et al. (2014) with
BCEWithLogits: D maximises log D(x) + log(1 - D(G(z))), G maximises
log D(G(z)). Weights start as in the DCGAN paper (Radford et al., 2015):
N(0, 0.02) for conv weights, N(1, 0.02) for batch-norm scales.
"""
import math
import os
import struct
import sys
import time
import types
import zlib

import numpy as np

import nerve
from nerve import nn, optim
from nerve.data import DataLoader, TensorDataset
from nerve.models.cnn import LeNet
from nerve.models.training import make_optimizer, save_checkpoint
from nerve.nn import functional as F


class MLPGenerator(nn.Module):
    """z (N, latent_dim) -> samples (N, out_dim); tanh output when `tanh`."""

    def __init__(self, latent_dim, out_dim, hidden=128, tanh=False):
        super().__init__()
        layers = [nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                  nn.Linear(hidden, out_dim)]
        if tanh:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)
        self.latent_dim = latent_dim

    def forward(self, z):
        return self.net(z)


class MLPDiscriminator(nn.Module):
    """samples (N, in_dim) -> logits (N, 1)."""

    def __init__(self, in_dim, hidden=128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                                 nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.net(x)


class DCGANGenerator(nn.Module):
    """z (N, latent_dim) -> images (N, 1, 8, 8) in [-1, 1]:
    1x1 -> ConvT 4x4 -> 4x4 -> ConvT 4x4/2 -> 8x8."""

    def __init__(self, latent_dim=32, width=64, channels=1):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, width, 4, 1, 0, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, width // 2, 3, 1, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU(),
            nn.ConvTranspose2d(width // 2, channels, 4, 2, 1, bias=False), nn.Tanh())
        self.apply(dcgan_init)

    def forward(self, z):
        return self.net(z.reshape(z.shape[0], self.latent_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    """images (N, 1, 8, 8) -> logits (N, 1): strided convs with LeakyReLU."""

    def __init__(self, width=64, channels=1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width // 2, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
            nn.Conv2d(width // 2, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 1, 4, 1, 0, bias=False))
        self.apply(dcgan_init)

    def forward(self, x):
        return self.net(x).reshape(x.shape[0], 1)


def dcgan_init(m):
    """DCGAN paper init: conv weights N(0, 0.02); batch-norm weight N(1, 0.02), bias 0."""
    name = type(m).__name__
    if name.startswith("Conv"):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif name.startswith("BatchNorm"):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def discriminator_loss(d_real, d_fake, real_label=1.0):
    """BCE of D on real samples (target real_label, <1 for one-sided smoothing) and fakes (target 0)."""
    ones = nerve.full(d_real.shape, real_label, dtype=d_real.dtype)
    zeros = nerve.zeros(*d_fake.shape, dtype=d_fake.dtype)
    return (F.binary_cross_entropy_with_logits(d_real, ones) + F.binary_cross_entropy_with_logits(d_fake, zeros))


def generator_loss(d_fake):
    """Non-saturating generator loss: -log D(G(z))."""
    return F.binary_cross_entropy_with_logits(d_fake, nerve.ones(*d_fake.shape, dtype=d_fake.dtype))


def diversity(samples):
    """Mean pairwise Euclidean distance between samples (N, ...): falls toward 0 under mode collapse."""
    x = np.asarray(samples, dtype=np.float64).reshape(len(samples), -1)
    if len(x) < 2:
        return 0.0
    sq = (x * x).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0)
    n = len(x)
    return float(np.sqrt(d2).sum() / (n * (n - 1)))


class GANTrainer:
    """Alternating D and G steps with two optimizers, plus failure guards.

    `health()` after each step reports 'ok', 'mode collapse' (diversity of
    a fixed-noise batch below `collapse_ratio` of the real data's) or
    'diverged' (a non-finite loss, or D's loss under `d_loss_floor` for
    `patience` steps in a row: D wins outright and G gets no signal).
    """

    def __init__(self, generator, discriminator, g_opt, d_opt, latent_dim, label_smoothing=0.0,
                 n_fixed=64, collapse_ratio=0.2, d_loss_floor=1e-3, patience=50):
        self.g, self.d, self.g_opt, self.d_opt = generator, discriminator, g_opt, d_opt
        self.latent_dim = latent_dim
        self.real_label = 1.0 - label_smoothing
        self.fixed_noise = nerve.randn(n_fixed, latent_dim)
        self.collapse_ratio, self.d_loss_floor, self.patience = collapse_ratio, d_loss_floor, patience
        self.real_diversity = None
        self.low_d_steps = 0
        self.last = {}

    def step(self, real):
        """One D step and one G step on a batch of real samples; returns (d_loss, g_loss)."""
        n = real.shape[0]
        if self.real_diversity is None:
            self.real_diversity = diversity(real.numpy()[:64])
        z = nerve.randn(n, self.latent_dim)
        fake = self.g(z)
        d_loss = discriminator_loss(self.d(real), self.d(fake.detach()), self.real_label)
        self.d_opt.zero_grad()
        d_loss.backward()
        self.d_opt.step()

        g_loss = generator_loss(self.d(fake))
        self.g_opt.zero_grad()
        g_loss.backward()
        self.g_opt.step()
        self.last = {"d_loss": d_loss.item(), "g_loss": g_loss.item()}
        self.low_d_steps = self.low_d_steps + 1 if self.last["d_loss"] < self.d_loss_floor else 0
        return self.last["d_loss"], self.last["g_loss"]

    def samples(self, z=None):
        """Generator output on the fixed noise (or z), in eval mode, as numpy."""
        was_training = self.g.training
        self.g.eval()
        with nerve.no_grad():
            out = self.g(self.fixed_noise if z is None else z).numpy()
        self.g.train(was_training)
        return out

    def health(self):
        if not all(math.isfinite(v) for v in self.last.values()):
            return "diverged (non-finite loss)"
        if self.low_d_steps >= self.patience:
            return f"diverged (discriminator loss < {self.d_loss_floor} for {self.low_d_steps} steps)"
        if self.real_diversity:
            ratio = diversity(self.samples()) / self.real_diversity
            if ratio < self.collapse_ratio:
                return f"mode collapse (sample diversity {ratio:.2f}x the data's)"
        return "ok"


def image_grid(images, cols=8):
    """(N, 1, H, W) in [-1, 1] -> one (rows*H, cols*W) uint8 picture."""
    n, _, h, w = images.shape
    rows = -(-n // cols)
    grid = np.zeros((rows * (h + 1) + 1, cols * (w + 1) + 1), dtype=np.float64)
    for i in range(n):
        r, c = divmod(i, cols)
        grid[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + c * (w + 1):1 + c * (w + 1) + w] = images[i, 0]
    return np.clip((grid + 1) * 127.5, 0, 255).astype(np.uint8)


def save_grid(images, path, scale=8):
    """Write images (N, 1, H, W) in [-1, 1] as one grayscale PNG grid, each pixel `scale` x `scale`.
    No imaging library needed: an 8-bit grayscale PNG is a zlib stream of filter-0 rows in three chunks."""
    grid = np.kron(image_grid(images), np.ones((scale, scale), dtype=np.uint8))
    h, w = grid.shape

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = np.concatenate([np.zeros((h, 1), dtype=np.uint8), grid], axis=1).tobytes()  # filter byte 0 per row
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)
    return path


# ------------------------------------------------------------------ nerve train gan

class GAN(nn.Module):
    """The generator and discriminator under one module, so one state dict holds both."""

    def __init__(self, latent_dim=32, width=64):
        super().__init__()
        self.latent_dim = latent_dim
        self.g = DCGANGenerator(latent_dim, width)
        self.d = DCGANDiscriminator(width)


def build_gan(config):
    return GAN(config.options["latent_dim"], config.options["width"])


def load_classifier(path, file):
    """The LeNet of a `nerve train cnn` checkpoint, or None (with the reason printed) when unusable."""
    if not os.path.exists(path):
        return None
    try:
        ckpt = nerve.load(path)
        if ckpt.get("model_name") != "cnn":
            raise ValueError(f"it holds {ckpt.get('model_name')!r}, not 'cnn'")
        model = LeNet(width=ckpt["config"].get("options", {}).get("width", 32))
        model.load_state_dict(ckpt["model"])
        return model
    except (ValueError, KeyError, OSError) as e:
        print(f"gan: cannot use the classifier checkpoint {path}: {e}; training a quick one instead", file=file)
        return None


def quick_classifier(train_set, config):
    """A LeNet trained for a few epochs in process (~98% on the digits test split)."""
    model = LeNet(width=16).to(config.device)
    opt = optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(int(config.options["classifier_epochs"])):
        for x, y in DataLoader(train_set, batch_size=64, shuffle=True):
            loss = F.cross_entropy(model(x.to(config.device)), y.to(config.device))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


@nerve.no_grad()
def judge(classifier, images, device):
    """Classify images in [0, 1]: (class histogram (10,), mean top-class probability)."""
    classifier.eval()
    probs = F.softmax(classifier(nerve.tensor(images, device=device)), dim=1).numpy()
    return np.bincount(probs.argmax(1), minlength=10), float(probs.max(1).mean())


def train_gan(name, model, train_set, test_set, config, file=None):
    """DCGAN on the digits scaled to [-1, 1]: progress with both losses and the trainer's health, sample
    grids of fixed noise, then a digits classifier labels `n_eval` samples. Returns the report dict."""
    from tqdm import tqdm


    file = file or sys.stdout
    o = config.options
    model.to(config.device)
    if config.optimizer == "adam":  # DCGAN's betas
        g_opt = optim.Adam(model.g.parameters(), lr=config.lr, betas=(0.5, 0.999), weight_decay=config.weight_decay)
        d_opt = optim.Adam(model.d.parameters(), lr=config.lr, betas=(0.5, 0.999), weight_decay=config.weight_decay)
    else:
        g_opt = make_optimizer(config.optimizer, model.g.parameters(), config.lr, config.weight_decay)
        d_opt = make_optimizer(config.optimizer, model.d.parameters(), config.lr, config.weight_decay)
    trainer = GANTrainer(model.g, model.d, g_opt, d_opt, model.latent_dim, label_smoothing=config.label_smoothing)
    trainer.fixed_noise = trainer.fixed_noise.to(config.device)
    real_set = TensorDataset(train_set.tensors[0].numpy() * 2 - 1)  # the digits in [-1, 1], as G's tanh
    loader = DataLoader(real_set, batch_size=config.batch_size, shuffle=True, drop_last=True)
    base = os.path.splitext(config.out)[0]
    os.makedirs(os.path.dirname(os.path.abspath(config.out)), exist_ok=True)
    grids = []

    history = {"d_loss": [], "g_loss": [], "health": []}
    total = config.epochs * len(loader)
    bar = tqdm(total=total, disable=not config.progress, unit="step", dynamic_ncols=True, file=sys.stderr)
    start, step, status = time.perf_counter(), 0, "ok"
    for epoch in range(config.epochs):
        bar.set_description(f"epoch {epoch + 1}/{config.epochs}")
        for (real,) in loader:
            d_loss, g_loss = trainer.step(real.to(config.device))
            step += 1
            history["d_loss"].append(d_loss)
            history["g_loss"].append(g_loss)
            if step % 10 == 0 or step == total:  # health samples the generator: not every step
                new = trainer.health() if step >= 100 else "ok"  # an untrained G always looks collapsed
                if new != status and new != "ok":
                    bar.write(f"{name}: step {step}: {new}", file=sys.stderr)
                status = new
                history["health"].append([step, status])
            bar.update(1)
            bar.set_postfix(d_loss=f"{d_loss:.3f}", g_loss=f"{g_loss:.3f}", health=status)
            if config.sample_every and step % config.sample_every == 0:
                grids.append(save_grid(trainer.samples(), f"{base}_step{step:05d}.png"))
    bar.close()
    seconds = time.perf_counter() - start
    grids.append(save_grid(trainer.samples(), f"{base}.png"))

    path = o["classifier"] or os.path.join(os.path.dirname(config.out), "cnn.npz")
    classifier = load_classifier(path, file)
    source = path
    if classifier is None:
        source = f"LeNet trained in process for {o['classifier_epochs']} epochs"
        classifier = quick_classifier(train_set, config)
    classifier.to(config.device)
    test_acc = _accuracy(classifier, test_set, config.device)
    z = nerve.tensor(np.random.default_rng(config.seed).standard_normal((int(o["n_eval"]), model.latent_dim)),
                     dtype=nerve.float32, device=config.device)
    samples = trainer.samples(z)
    hist, confidence = judge(classifier, (samples + 1) / 2, config.device)
    last = max(1, len(loader))
    report = {"model": name, "d_loss": float(np.mean(history["d_loss"][-last:])),
              "g_loss": float(np.mean(history["g_loss"][-last:])), "health": trainer.health(),
              "class_histogram": hist.tolist(), "mean_confidence": confidence, "classifier": source,
              "classifier_test_accuracy": test_acc, "samples_judged": len(samples), "grids": grids,
              "steps": step, "epochs": config.epochs, "seconds": seconds,
              "parameters": sum(p.numel() for p in model.parameters()), "checkpoint": config.out}
    both = types.SimpleNamespace(state_dict=lambda: {"g": g_opt.state_dict(), "d": d_opt.state_dict()})
    save_checkpoint(config.out, name, model, both, config, history, report)
    print(f"{name}: {config.epochs} epochs ({step} steps) in {seconds:.1f} s, last-epoch mean losses D "
          f"{report['d_loss']:.3f}, G {report['g_loss']:.3f}; health: {report['health']}", file=file)
    print(f"{name}: {len(samples)} samples labelled by {source} (test accuracy {test_acc * 100:.1f}%): "
          f"class histogram {report['class_histogram']}, mean confidence {confidence:.3f}", file=file)
    print(f"{name}: sample grid written to {grids[-1]}; checkpoint written to {config.out}", file=file)
    return report


@nerve.no_grad()
def _accuracy(classifier, dataset, device):
    classifier.eval()
    correct = n = 0
    for x, y in DataLoader(dataset, batch_size=512):
        correct += int((classifier(x.to(device)).argmax(1) == y.to(device)).sum())
        n += len(y)
    return correct / max(n, 1)
