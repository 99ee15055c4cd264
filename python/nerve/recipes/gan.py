"""``nerve train gan``: a DCGAN on the built-in 8x8 digits scaled to [-1, 1],
with GANTrainer, which alternates D and G steps and watches for the usual
failures, sample grids as PNGs, and at the end a digits classifier that
labels generated samples.

Losses are the non-saturating ones of Goodfellow et al. (2014) with
BCEWithLogits: D maximises log D(x) + log(1 - D(G(z))), G maximises
log D(G(z)). The models are in nerve.models.gan.
"""
import io
import math
import os
import struct
import sys
import types
import zlib

import numpy as np

import nerve
from nerve import optim
from nerve.data import DataLoader, TensorDataset
from nerve.models.cnn import LeNet
from nerve.nn import functional as F
from nerve.recipes.classification import ClassifierTraining, evaluate
from nerve.recipes.training import Task, TrainConfig, fit, make_optimizer


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


def quick_classifier(train_set, test_set, config):
    """A LeNet trained in process for a few epochs by the classifier recipe, silently (~98% on the digits)."""
    model = LeNet(width=16)
    quick = TrainConfig(epochs=int(config.options["classifier_epochs"]), batch_size=64, lr=2e-3, optimizer="adam",
                        device=config.device, out=None, progress=False)
    fit(ClassifierTraining("cnn", model, train_set, test_set, quick), file=io.StringIO())
    return model


@nerve.no_grad()
def judge(classifier, images, device):
    """Classify images in [0, 1]: (class histogram (10,), mean top-class probability)."""
    classifier.eval()
    probs = F.softmax(classifier(nerve.tensor(images, device=device)), dim=1).numpy()
    return np.bincount(probs.argmax(1), minlength=10), float(probs.max(1).mean())


class GANTraining(Task):
    """config.epochs passes over the digits in [-1, 1], a GANTrainer step (D, then G) per batch, its health every
    10 steps, sample grids of fixed noise; at the end a digits classifier (runs/cnn.npz beside the checkpoint, or
    option classifier, else one trained in process) labels `n_eval` samples. --schedule does not apply here."""

    by_epoch = True

    def __init__(self, name, model, train_set, test_set, config):
        super().__init__(name, model, train_set, test_set, config)
        self.trainer = GANTrainer(model.g, model.d, self.opt.g, self.opt.d, model.latent_dim,
                                  label_smoothing=config.label_smoothing)
        self.trainer.fixed_noise = self.trainer.fixed_noise.to(config.device)
        real_set = TensorDataset(train_set.tensors[0].numpy() * 2 - 1)  # the digits in [-1, 1], as G's tanh
        self.loader = DataLoader(real_set, batch_size=config.batch_size, shuffle=True, drop_last=True)
        self.base = os.path.splitext(config.out)[0]
        os.makedirs(os.path.dirname(os.path.abspath(config.out)), exist_ok=True)
        self.grids = []
        self.history = {"d_loss": [], "g_loss": [], "health": []}
        self.step, self.status = 0, "ok"

    def make_optimizer(self):
        """One optimizer for G and one for D (Adam with DCGAN's betas), saved together as {'g': ..., 'd': ...}."""
        c, g, d = self.config, self.model.g.parameters(), self.model.d.parameters()
        if c.optimizer == "adam":
            g_opt = optim.Adam(g, lr=c.lr, betas=(0.5, 0.999), weight_decay=c.weight_decay)
            d_opt = optim.Adam(d, lr=c.lr, betas=(0.5, 0.999), weight_decay=c.weight_decay)
        else:
            g_opt = make_optimizer(c.optimizer, g, c.lr, c.weight_decay)
            d_opt = make_optimizer(c.optimizer, d, c.lr, c.weight_decay)
        return types.SimpleNamespace(g=g_opt, d=d_opt, state_dict=lambda: {"g": g_opt.state_dict(),
                                                                           "d": d_opt.state_dict()})

    def make_scheduler(self):
        return None

    def train_step(self, batch):
        (real,) = batch
        d_loss, g_loss = self.trainer.step(real.to(self.config.device))
        self.step += 1
        self.history["d_loss"].append(d_loss)
        self.history["g_loss"].append(g_loss)
        if self.step % 10 == 0 or self.step == self.config.epochs * len(self.loader):  # health samples G: not always
            new = self.trainer.health() if self.step >= 100 else "ok"  # an untrained G always looks collapsed
            if new != self.status and new != "ok":
                from tqdm import tqdm
                tqdm.write(f"{self.name}: step {self.step}: {new}", file=sys.stderr)
            self.status = new
            self.history["health"].append([self.step, self.status])
        if self.config.sample_every and self.step % self.config.sample_every == 0:
            self.grids.append(save_grid(self.trainer.samples(), f"{self.base}_step{self.step:05d}.png"))
        return {"d_loss": f"{d_loss:.3f}", "g_loss": f"{g_loss:.3f}", "health": self.status}

    def report(self, seconds):
        c, o, trainer = self.config, self.options, self.trainer
        self.grids.append(save_grid(trainer.samples(), f"{self.base}.png"))
        path = o["classifier"] or os.path.join(os.path.dirname(c.out), "cnn.npz")
        classifier, source = load_classifier(path, self.file), path
        if classifier is None:
            source = f"LeNet trained in process for {o['classifier_epochs']} epochs"
            classifier = quick_classifier(self.train_set, self.test_set, c)
        classifier.to(c.device)
        test_acc = evaluate(classifier, self.test_set, c.device)[1]
        z = nerve.tensor(np.random.default_rng(c.seed).standard_normal((int(o["n_eval"]), self.model.latent_dim)),
                         dtype=nerve.float32, device=c.device)
        samples = trainer.samples(z)
        hist, confidence = judge(classifier, (samples + 1) / 2, c.device)
        last = max(1, len(self.loader))
        return {"d_loss": float(np.mean(self.history["d_loss"][-last:])),
                "g_loss": float(np.mean(self.history["g_loss"][-last:])), "health": trainer.health(),
                "class_histogram": hist.tolist(), "mean_confidence": confidence, "classifier": source,
                "classifier_test_accuracy": test_acc, "samples_judged": len(samples), "grids": self.grids,
                "steps": self.step, "epochs": c.epochs}

    def summary(self, r):
        c, name = self.config, self.name
        return [f"{name}: {c.epochs} epochs ({r['steps']} steps) in {r['seconds']:.1f} s, last-epoch mean losses D "
                f"{r['d_loss']:.3f}, G {r['g_loss']:.3f}; health: {r['health']}",
                f"{name}: {r['samples_judged']} samples labelled by {r['classifier']} (test accuracy "
                f"{r['classifier_test_accuracy'] * 100:.1f}%): class histogram {r['class_histogram']}, "
                f"mean confidence {r['mean_confidence']:.3f}",
                f"{name}: sample grid written to {r['grids'][-1]}; checkpoint written to {c.out}"]
