"""The same seed gives a bitwise-identical training run on the CPU.

Native kernels split work so that every output element is reduced by one
thread in a fixed order (GEMM blocks over M/N with K summed in order, cross
entropy and optimizers per row/element), so two runs with the same thread
count agree to the last bit. Runs use 2 OpenMP threads and sizes large
enough for the kernels to actually use both.
"""
import numpy as np
import pytest

import nerve
import nerve.nn as nn
import nerve.nn.functional as F
from nerve import _C


@pytest.fixture
def two_threads():
    before = _C.get_num_threads()
    _C.set_num_threads(2)
    yield
    _C.set_num_threads(before)


def train(make_model, x_shape, classes, steps=8, dropout=False):
    nerve.manual_seed(1234)
    model = make_model()
    opt = nerve.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    rng = np.random.default_rng(5)
    x = nerve.tensor(rng.standard_normal(x_shape).astype(np.float32))
    y = nerve.tensor(rng.integers(0, classes, x_shape[0]))
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        out = model(F.dropout(x, 0.1) if dropout else x)
        loss = F.cross_entropy(out, y, label_smoothing=0.1)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, [p.detach().numpy().copy() for p in model.parameters()]


def assert_identical(run_a, run_b):
    (la, pa), (lb, pb) = run_a, run_b
    assert la == lb, "losses differ between identical runs"
    for a, b in zip(pa, pb):
        assert a.tobytes() == b.tobytes(), "parameters differ between identical runs"


def test_mlp_training_is_bitwise_reproducible(two_threads):
    def mlp():
        return nn.Sequential(nn.Linear(96, 256), nn.GELU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))

    first = train(mlp, (256, 96), 10, dropout=True)
    assert_identical(first, train(mlp, (256, 96), 10, dropout=True))
    assert first[0][-1] < first[0][0]  # it did train


def test_cnn_training_is_bitwise_reproducible(two_threads):
    def cnn():
        return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(16, 16, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 3 * 3, 10))

    first = train(cnn, (32, 3, 16, 16), 10)
    assert_identical(first, train(cnn, (32, 3, 16, 16), 10))
