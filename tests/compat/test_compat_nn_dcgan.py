"""A PyTorch-style DCGAN program on 16x16 "images" (bright squares on a dark field): the generator
upsamples with nn.Upsample and GroupNorm, the discriminator uses reflection padding, InstanceNorm
and LeakyReLU; BCE losses, Adam(betas=(0.5, 0.999)), weights_init through Module.apply. The
discriminator's loss must fall while it learns to tell real from fake, and the generator's must
fall while it learns to fool a fixed discriminator."""
import nerve as torch

nn = torch.nn
F = torch.nn.functional
NZ = 8


class Generator(nn.Module):
    def __init__(self, nz=NZ, ngf=16):
        super().__init__()
        self.project = nn.Sequential(nn.Linear(nz, ngf * 4 * 4), nn.Unflatten(1, (ngf, 4, 4)))
        self.main = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(ngf, ngf, 3, padding=1, bias=False), nn.GroupNorm(4, ngf), nn.ReLU(True),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(ngf, ngf // 2, 3, padding=1, bias=False), nn.GroupNorm(2, ngf // 2), nn.ReLU(True),
            nn.Conv2d(ngf // 2, 1, 3, padding=1), nn.Tanh(),
        )

    def forward(self, z):
        return self.main(self.project(z))


class Discriminator(nn.Module):
    def __init__(self, ndf=16):
        super().__init__()
        self.main = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(1, ndf, 4, 2, 0), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.InstanceNorm2d(ndf * 2, affine=True),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Flatten(), nn.Linear(ndf * 2 * 4 * 4, 1), nn.Sigmoid(),
        )

    def forward(self, x):
        return self.main(x).view(-1)


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif classname.find("GroupNorm") != -1:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.constant_(m.bias, 0)


def real_batch(n):
    """Squares of side 6 at random places, +1 inside, -1 outside."""
    images = -torch.ones(n, 1, 16, 16)
    corners = torch.randint(0, 10, (n, 2)).tolist()
    for i, (r, c) in enumerate(corners):
        images[i, 0, r:r + 6, c:c + 6] = 1.0
    return images


def test_dcgan_losses_fall():
    torch.manual_seed(0)
    netG, netD = Generator(), Discriminator()
    netG.apply(weights_init)
    netD.apply(weights_init)
    criterion = nn.BCELoss()
    optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-3, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-3, betas=(0.5, 0.999))
    fixed_noise = torch.randn(16, NZ)

    d_losses = []
    for _ in range(25):  # the discriminator learns against the current generator
        netD.zero_grad()
        real = real_batch(16)
        output = netD(real)
        errD_real = criterion(output, torch.full((16,), 1.0))
        errD_real.backward()
        fake = netG(torch.randn(16, NZ))
        errD_fake = criterion(netD(fake.detach()), torch.full((16,), 0.0))
        errD_fake.backward()
        optimizerD.step()
        d_losses.append((errD_real + errD_fake).item())
    assert sum(d_losses[-5:]) < 0.5 * sum(d_losses[:5]), d_losses

    netD.zero_grad()
    netD.requires_grad_(False)
    g_losses = []
    for _ in range(25):  # the generator learns to fool it
        netG.zero_grad()
        errG = criterion(netD(netG(fixed_noise)), torch.full((16,), 1.0))
        errG.backward()
        optimizerG.step()
        g_losses.append(errG.item())
    assert sum(g_losses[-5:]) < 0.7 * sum(g_losses[:5]), g_losses
    assert all(p.grad is None for p in netD.parameters())  # frozen: no gradient reached it
    with torch.no_grad():
        samples = netG(fixed_noise)
    assert samples.shape == (16, 1, 16, 16) and float(samples.abs().max()) <= 1.0
