"""Batch norm layers: train/eval behaviour, running statistics, state dicts."""
import numpy as np
import pytest

import nerve
from nerve import nn


def test_batch_norm_train_eval_and_state_dict(rng):
    bn = nn.BatchNorm2d(3).double()
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    x = rng.standard_normal((4, 3, 5, 5)) * 2 + 1
    y = bn(nerve.tensor(x))
    np.testing.assert_allclose(y.detach().numpy().mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-10)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * x.var(axis=(0, 2, 3), ddof=1), rtol=1e-10)
    assert int(bn.num_batches_tracked.item()) == 1
    bn.eval()
    y = bn(nerve.tensor(x))
    rm, rv = bn.running_mean.numpy()[:, None, None], bn.running_var.numpy()[:, None, None]
    np.testing.assert_allclose(y.detach().numpy(), (x - rm) / np.sqrt(rv + 1e-5), rtol=1e-10)
    with pytest.raises(ValueError, match="expected 4D input \\(got 3D input\\)"):
        bn(nerve.randn(2, 3, 4))


def test_batch_norm1d_cumulative_momentum_and_no_tracking(rng):
    bn = nn.BatchNorm1d(2, momentum=None).double()
    xs = [rng.standard_normal((5, 2)) for _ in range(3)]
    for x in xs:
        bn(nerve.tensor(x))
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([x.mean(axis=0) for x in xs], axis=0), rtol=1e-10)
    free = nn.BatchNorm1d(2, affine=False, track_running_stats=False).double().eval()
    assert free.running_mean is None and list(free.parameters()) == []
    y = free(nerve.tensor(xs[0]))
    np.testing.assert_allclose(y.detach().numpy().mean(axis=0), 0, atol=1e-12)
