"""Generative adversarial networks: MLP and DCGAN generators and
discriminators (the DCGAN ones for 8x8 digits), and GAN, the pair under one
module. Their training (losses, GANTrainer, sample grids) is in
nerve.recipes.gan.

Weights start as in the DCGAN paper (Radford et al., 2015): N(0, 0.02) for
conv weights, N(1, 0.02) for batch-norm scales.
"""
from nerve import nn


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


class GAN(nn.Module):
    """The generator and discriminator under one module, so one state dict holds both."""

    def __init__(self, latent_dim=32, width=64):
        super().__init__()
        self.latent_dim = latent_dim
        self.g = DCGANGenerator(latent_dim, width)
        self.d = DCGANDiscriminator(width)
