"""A time-series LSTM regressor in the style of the usual tutorials: a
Dataset of sliding windows over noisy sine waves, torch.utils.data with a
seeded Generator, Adam, gradient clipping, and inference_mode evaluation."""
import math

from tests.compat.torch_alias import nn, torch
from nerve.utils.data import DataLoader, Dataset, random_split


class SineWindows(Dataset):
    def __init__(self, n_series=64, length=60, window=20, generator=None):
        t = torch.arange(length, dtype=torch.float32)
        phase = torch.rand(n_series, 1, generator=generator) * 2 * math.pi
        freq = 0.1 + 0.2 * torch.rand(n_series, 1, generator=generator)
        self.series = torch.sin(freq * t + phase) + 0.05 * torch.randn(n_series, length, generator=generator)
        self.window = window
        self.per_series = length - window

    def __len__(self):
        return self.series.size(0) * self.per_series

    def __getitem__(self, i):
        s, start = divmod(i, self.per_series)
        x = self.series[s, start:start + self.window].unsqueeze(-1)  # (window, 1)
        y = self.series[s, start + self.window].view(1)
        return x, y


class Forecaster(nn.Module):
    def __init__(self, hidden=24):
        super().__init__()
        self.lstm = nn.LSTM(input_size=1, hidden_size=hidden, num_layers=1, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        out, (h, c) = self.lstm(x)
        return self.head(out[:, -1, :])


def evaluate(model, loader, device):
    model.eval()
    total, count = 0.0, 0
    with torch.inference_mode():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            total += nn.functional.mse_loss(model(x), y, reduction="sum").item()
            count += y.numel()
    model.train()
    return total / count


def test_lstm_forecaster_learns():
    torch.backends.cudnn.benchmark = True
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    g = torch.Generator().manual_seed(1234)
    full = SineWindows(generator=g)
    train_set, val_set = random_split(full, [0.8, 0.2], generator=torch.Generator().manual_seed(0))
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True, drop_last=True, generator=g,
                              pin_memory=torch.cuda.is_available(), num_workers=0)
    val_loader = DataLoader(val_set, batch_size=256)

    model = Forecaster().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = evaluate(model, val_loader, device)
    step = 0
    for epoch in range(2):
        for x, y in train_loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            optimizer.step()
            step += 1
            if step >= 40:
                break
    after = evaluate(model, val_loader, device)
    assert after < 0.5 * before, (before, after)
