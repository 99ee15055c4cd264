"""Module registration, naming, state dicts and Linear."""
import numpy as np
import pytest

import nerve
from nerve import nn
from nerve.testing import gradcheck


def make_mlp():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 3))


def test_named_parameters_follow_pytorch_names():
    assert [n for n, _ in make_mlp().named_parameters()] == ["0.weight", "0.bias", "3.weight", "3.bias"]


def test_state_dict_round_trip_and_errors():
    a, b = make_mlp().eval(), make_mlp().eval()
    b.load_state_dict(a.state_dict())
    x = nerve.randn(5, 4)
    with nerve.no_grad():
        np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    with pytest.raises(RuntimeError, match=r"size mismatch for 0.weight.*\(3, 3\).*\(8, 4\)"):
        b.load_state_dict({"0.weight": nerve.zeros(3, 3)})
    with pytest.raises(RuntimeError, match='Unexpected key.*"extra"'):
        b.load_state_dict({**a.state_dict(), "extra": nerve.zeros(1)})


@pytest.mark.parametrize("shape", [(1, 3), (7, 3), (2, 5, 3), (0, 3)])
def test_linear_matches_numpy_and_gradcheck(shape, rng):
    lin = nn.Linear(3, 5).double()
    x = rng.standard_normal(shape)
    with nerve.no_grad():
        y = lin(nerve.tensor(x)).numpy()
    ref = x @ lin.weight.detach().numpy().T + lin.bias.detach().numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
    if x.size:
        w, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
        assert gradcheck(lambda x, w, b: nn.functional.linear(x, w, b), [x, w, b])


def test_linear_rejects_wrong_width():
    with pytest.raises(ValueError, match="linear: input's last dim 4 does not match weight's in_features 3"):
        nn.Linear(3, 2)(nerve.randn(2, 4))


def test_dropout_train_and_eval():
    d = nn.Dropout(0.5)
    x = nerve.ones(2000)
    y = d(x).numpy()
    assert set(np.unique(y)) <= {0.0, 2.0} and 0.4 < (y == 0).mean() < 0.6
    d.eval()
    assert d(x) is x
