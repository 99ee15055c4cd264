"""A PyTorch-style training script that stops and resumes: an MLP regressor with AdamW parameter
groups built by name (no weight decay on biases and norms), a linear warm-up followed by
CosineAnnealingWarmRestarts stepped per batch with fractional epochs, and a checkpoint written to
a file object with torch.save and read back with torch.load(map_location="cpu", weights_only=True).
The loss must fall, and the resumed run must follow the uninterrupted one step for step."""
import io

import nerve as torch

nn = torch.nn
F = torch.nn.functional
STEPS_PER_EPOCH, EPOCHS, STOP = 8, 6, 3


def make_model():
    return nn.Sequential(nn.Linear(4, 32), nn.LayerNorm(32), nn.GELU(), nn.Linear(32, 1))


def make_optimizer(model):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if name.endswith("bias") or name.startswith("1.") else decay).append((name, p))
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.05},
                              {"params": no_decay, "weight_decay": 0.0}], lr=3e-2, fused=False, foreach=None)


def make_scheduler(optimizer):
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.2, total_iters=STEPS_PER_EPOCH)
    restarts = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=2 * STEPS_PER_EPOCH, T_mult=2)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, restarts], milestones=[STEPS_PER_EPOCH])


def data():
    torch.manual_seed(1)
    x = torch.randn(STEPS_PER_EPOCH * 16, 4)
    y = (x[:, :1] * 2 - x[:, 1:2] * x[:, 2:3] + 0.5 * torch.sin(3 * x[:, 3:4]))
    return x, y


def train(model, optimizer, scheduler, x, y, epochs, start=0):
    losses, lrs = [], []
    for epoch in range(start, start + epochs):
        model.train()
        for i in range(STEPS_PER_EPOCH):
            xb, yb = x[i * 16:(i + 1) * 16], y[i * 16:(i + 1) * 16]
            optimizer.zero_grad(set_to_none=True)
            loss = F.mse_loss(model(xb), yb)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            lrs.append([g["lr"] for g in optimizer.param_groups])
    return losses, lrs


def test_resume_follows_the_uninterrupted_run():
    x, y = data()
    torch.manual_seed(0)
    model = make_model()
    optimizer = make_optimizer(model)
    whole_losses, whole_lrs = train(model, optimizer, make_scheduler(optimizer), x, y, EPOCHS)
    assert sum(whole_losses[-8:]) < 0.2 * sum(whole_losses[:8]), whole_losses

    torch.manual_seed(0)
    model = make_model()
    optimizer = make_optimizer(model)
    scheduler = make_scheduler(optimizer)
    losses, lrs = train(model, optimizer, scheduler, x, y, STOP)
    buffer = io.BytesIO()
    torch.save({"epoch": STOP, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict()}, buffer)

    buffer.seek(0)
    checkpoint = torch.load(buffer, map_location="cpu", weights_only=True)
    model = make_model()  # a fresh process would build everything again
    model.load_state_dict(checkpoint["model"])
    optimizer = make_optimizer(model)
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler = make_scheduler(optimizer)
    scheduler.load_state_dict(checkpoint["scheduler"])
    more_losses, more_lrs = train(model, optimizer, scheduler, x, y, EPOCHS - STOP, start=checkpoint["epoch"])
    assert lrs + more_lrs == whole_lrs
    assert max(abs(a - b) for a, b in zip(losses + more_losses, whole_losses)) < 1e-5
