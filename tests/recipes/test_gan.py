"""GAN training (nerve.recipes.gan with the models of nerve.models.gan): one D
and G step against a NumPy reference, and a short run on a 2-D mixture of
Gaussians where the generator must move toward the modes."""
import numpy as np

import nerve
from nerve import nn, optim
from nerve.models.gan import MLPDiscriminator, MLPGenerator
from nerve.recipes import gan

SLOPE = 0.2


def mlp_forward(layers, x):
    """NumPy forward of Linear/LeakyReLU(0.2) stacks; returns output and the cache for backward."""
    cache = []
    for i, (w, b) in enumerate(layers):
        cache.append(x)
        x = x @ w.T + b
        if i < len(layers) - 1:
            cache.append(x)
            x = np.where(x > 0, x, SLOPE * x)
    return x, cache


def mlp_backward(layers, cache, g):
    """Gradients of every (w, b) and of the input, given d out."""
    grads = [None] * len(layers)
    cache = list(cache)
    for i in reversed(range(len(layers))):
        if i < len(layers) - 1:
            pre = cache.pop()
            g = np.where(pre > 0, g, SLOPE * g)
        x = cache.pop()
        w, _ = layers[i]
        grads[i] = (g.T @ x, g.sum(0))
        g = g @ w
    return grads, g


def bce_logits(x, y):
    """Mean BCE with logits and its gradient."""
    loss = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
    return loss.mean(), (1 / (1 + np.exp(-x)) - y) / x.size


def params_of(mlp):
    lin = [m for m in mlp.net if isinstance(m, nn.Linear)]
    return lin, [(m.weight.detach().numpy().copy(), m.bias.detach().numpy().copy()) for m in lin]


def test_one_discriminator_and_generator_step_match_numpy(rng):
    g_net, d_net = MLPGenerator(3, 2, hidden=5).double(), MLPDiscriminator(2, hidden=4).double()
    real = rng.standard_normal((7, 2))
    z = rng.standard_normal((7, 3))
    g_lin, gp = params_of(g_net)
    d_lin, dp = params_of(d_net)

    # discriminator loss and gradients (label smoothing 0.9 on the real side)
    fake_np, g_cache = mlp_forward(gp, z)
    dr, cr = mlp_forward(dp, real)
    df, cf = mlp_forward(dp, fake_np)
    lr_, gr = bce_logits(dr, np.full_like(dr, 0.9))
    lf, gf = bce_logits(df, np.zeros_like(df))
    ref_grads = [(a[0] + b[0], a[1] + b[1]) for a, b in zip(mlp_backward(dp, cr, gr)[0], mlp_backward(dp, cf, gf)[0])]

    fake = g_net(nerve.tensor(z))
    d_loss = gan.discriminator_loss(d_net(nerve.tensor(real)), d_net(fake.detach()), real_label=0.9)
    d_loss.backward()
    np.testing.assert_allclose(d_loss.item(), lr_ + lf, rtol=1e-12)
    for m, (gw, gb) in zip(d_lin, ref_grads):
        np.testing.assert_allclose(m.weight.grad.numpy(), gw, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(m.bias.grad.numpy(), gb, rtol=1e-10, atol=1e-12)
    assert all(m.weight.grad is None for m in g_lin)  # fake was detached

    # generator loss and gradients through D
    d_net.zero_grad()
    lg, gg = bce_logits(df, np.ones_like(df))
    _, g_fake = mlp_backward(dp, cf, gg)
    ref_g = mlp_backward(gp, g_cache, g_fake)[0]
    g_loss = gan.generator_loss(d_net(fake))
    g_loss.backward()
    np.testing.assert_allclose(g_loss.item(), lg, rtol=1e-12)
    for m, (gw, gb) in zip(g_lin, ref_g):
        np.testing.assert_allclose(m.weight.grad.numpy(), gw, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(m.bias.grad.numpy(), gb, rtol=1e-10, atol=1e-12)


def mode_distance(samples, modes):
    """Mean distance from each sample to its nearest mode."""
    d = np.linalg.norm(samples[:, None, :] - modes[None, :, :], axis=2)
    return float(d.min(1).mean())


def test_generator_moves_toward_the_modes():
    nerve.manual_seed(3)
    rng = np.random.default_rng(3)
    angles = np.arange(4) * np.pi / 2
    modes = 2.0 * np.stack([np.cos(angles), np.sin(angles)], 1)
    g_net, d_net = MLPGenerator(4, 2, hidden=32), MLPDiscriminator(2, hidden=32)
    trainer = gan.GANTrainer(g_net, d_net, optim.Adam(g_net.parameters(), lr=2e-3, betas=(0.5, 0.999)),
                             optim.Adam(d_net.parameters(), lr=2e-3, betas=(0.5, 0.999)), latent_dim=4, n_fixed=256)
    before = mode_distance(trainer.samples(), modes)
    for _ in range(300):
        real = modes[rng.integers(0, 4, 64)] + 0.05 * rng.standard_normal((64, 2))
        d_loss, g_loss = trainer.step(nerve.tensor(real, dtype=nerve.float32))
        assert np.isfinite(d_loss) and np.isfinite(g_loss)
    after = mode_distance(trainer.samples(), modes)
    assert after < 0.5 * before, (before, after)
    assert trainer.health() == "ok"


def test_health_reports_collapse_and_divergence():
    g_net, d_net = MLPGenerator(2, 2, hidden=8), MLPDiscriminator(2, hidden=8)
    trainer = gan.GANTrainer(g_net, d_net, optim.SGD(g_net.parameters(), lr=0.0), optim.SGD(d_net.parameters(), lr=0.0),
                             latent_dim=2)
    trainer.real_diversity = 1e6  # any generator looks collapsed next to this
    trainer.last = {"d_loss": 0.5, "g_loss": 0.5}
    assert trainer.health().startswith("mode collapse")
    trainer.last = {"d_loss": float("nan"), "g_loss": 0.5}
    assert trainer.health().startswith("diverged")
    trainer.last = {"d_loss": 1e-5, "g_loss": 9.0}
    trainer.low_d_steps = trainer.patience
    assert trainer.health().startswith("diverged (discriminator loss")


def test_image_grid_layout():
    imgs = np.linspace(-1, 1, 3 * 64).reshape(3, 1, 8, 8)
    grid = gan.image_grid(imgs, cols=2)
    assert grid.shape == (2 * 9 + 1, 2 * 9 + 1) and grid.dtype == np.uint8
    assert grid[1, 1] == 0  # first pixel of the first image is -1
    assert grid[1 + 9 + 7, 1 + 7] == 255  # last pixel of the third image (row 1, col 0) is +1
    assert grid[0, 0] == 127  # border
