"""An MNIST-style convolutional classifier on nerve's built-in 8x8 digits,
trained the old way: a hand-written SGD-with-momentum step on ``p.data``
(``p.data.add_(buf, alpha=-lr)``), ``p.grad.zero_()``, torch.utils.data
with a seeded random_split, and accuracy under no_grad."""
from tests.compat.torch_alias import F, nn, torch
from nerve.utils.data import DataLoader, TensorDataset, random_split


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, padding=1)
        self.dropout = nn.Dropout(0.1)
        self.fc1 = nn.Linear(16 * 2 * 2, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (N, 8, 4, 4)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (N, 16, 2, 2)
        x = torch.flatten(x, 1)
        x = self.dropout(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


def accuracy(model, loader):
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for data, target in loader:
            pred = model(data).argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
            total += target.size(0)
    model.train()
    return correct / total


def test_digits_classifier_with_manual_sgd_on_p_data():
    images, labels = torch.data.load_digits()
    x = torch.from_numpy(images).float() / 16.0
    y = torch.from_numpy(labels).long()
    x = (x - x.mean()) / x.std()
    dataset = TensorDataset(x, y)
    train_set, test_set = random_split(dataset, [1497, 300], generator=torch.Generator().manual_seed(42))
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(1))
    test_loader = DataLoader(test_set, batch_size=300)

    model = Net()
    lr, momentum = 0.05, 0.9
    buffers = {name: torch.zeros_like(p) for name, p in model.named_parameters()}
    start = accuracy(model, test_loader)
    first_losses, last_losses = [], []
    for epoch in range(2):
        for batch_idx, (data, target) in enumerate(train_loader):
            output = model(data)
            loss = F.nll_loss(output, target)
            model.zero_grad()
            loss.backward()
            for name, p in model.named_parameters():
                if p.grad is None:
                    continue
                buf = buffers[name]
                buf.mul_(momentum).add_(p.grad.data)
                p.data.add_(buf, alpha=-lr)
            (first_losses if epoch == 0 and batch_idx < 3 else last_losses).append(loss.item())
    end = accuracy(model, test_loader)
    assert all(p.is_leaf and p.grad_fn is None for p in model.parameters())
    assert sum(last_losses[-5:]) / 5 < 0.5 * sum(first_losses) / 3, (first_losses, last_losses[-5:])
    assert end > max(start + 0.3, 0.5), (start, end)
