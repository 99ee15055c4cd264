"""Module registration, naming, state dicts and Linear."""
import numpy as np
import pytest

import nerve
from nerve import nn
from nerve.nn import functional as F
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


# ------------------------------------------------------------------ hooks
def test_forward_pre_hook_and_forward_hook_replace_input_and_output():
    layer = nn.Linear(2, 2)
    seen = []
    pre = layer.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    post = layer.register_forward_hook(lambda m, args, out: seen.append(args[0].sum().item()) or out + 1)
    out = layer(nerve.ones(3, 2))
    np.testing.assert_allclose(out.detach().numpy(), np.tile(layer.bias.detach().numpy() + 1, (3, 1)), rtol=1e-6)
    assert seen == [0.0]
    pre.remove()
    post.remove()
    np.testing.assert_allclose(layer(nerve.ones(1, 2)).detach().numpy(), F.linear(
        nerve.ones(1, 2), layer.weight, layer.bias).detach().numpy())
    kw = layer.register_forward_hook(lambda m, args, kwargs, out: out * 0, with_kwargs=True)
    assert layer(nerve.ones(1, 2)).abs().sum().item() == 0
    kw.remove()
    order = []
    layer.register_forward_hook(lambda m, a, o: order.append("second"))
    layer.register_forward_hook(lambda m, a, o: order.append("first"), prepend=True)
    layer(nerve.ones(1, 2))
    assert order == ["first", "second"]


def test_full_backward_hook_sees_and_replaces_grad_input():
    """grad_output is d loss / d output; grad_input d loss / d input; a returned tuple replaces it."""
    layer = nn.Linear(3, 2).double()
    calls = []

    def hook(module, grad_input, grad_output):
        calls.append((grad_input[0].numpy().copy(), grad_output[0].numpy().copy()))
        return (grad_input[0] * 10,)

    handle = layer.register_full_backward_hook(hook)
    x = nerve.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    g = np.array([[1.0, -2.0], [0.5, 3.0]])
    (layer(x) * nerve.tensor(g)).sum().backward()
    w = layer.weight.detach().numpy()
    (grad_input, grad_output), = calls
    np.testing.assert_allclose(grad_output, g)
    np.testing.assert_allclose(grad_input, g @ w)
    np.testing.assert_allclose(x.grad.numpy(), 10 * g @ w)
    assert layer.weight.grad is not None  # parameters still get theirs
    handle.remove()
    x.grad = None
    (layer(x) * nerve.tensor(g)).sum().backward()
    assert len(calls) == 1
    np.testing.assert_allclose(x.grad.numpy(), g @ w)


def test_full_backward_hook_without_input_grad_and_pre_hook():
    layer = nn.Linear(3, 2)
    calls = []
    layer.register_full_backward_hook(lambda m, gi, go: calls.append((gi, go[0].shape)))
    layer.register_full_backward_pre_hook(lambda m, go: (go[0] * 2,))
    layer(nerve.ones(4, 3)).sum().backward()  # the input needs no gradient
    assert calls == [((None,), (4, 2))]
    np.testing.assert_allclose(layer.bias.grad.numpy(), [8.0, 8.0])  # grad_output doubled by the pre-hook


def test_module_utilities():
    model = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 1)))
    assert model.get_submodule("1.1") is model[1][1]
    assert model.get_parameter("1.1.bias") is model[1][1].bias
    with pytest.raises(AttributeError):
        model.get_parameter("0.nothing")
    model.register_buffer("scratch", nerve.zeros(2), persistent=False)
    assert "scratch" not in model.state_dict() and "scratch" in dict(model.named_buffers())
    assert model.get_buffer("scratch").shape == (2,)
    shared = nn.Linear(1, 1)
    twice = nn.Sequential(shared, shared)
    assert [n for n, _ in twice.named_modules()] == ["", "0"]
    assert [n for n, _ in twice.named_modules(remove_duplicate=False)] == ["", "0", "1"]
    assert model.requires_grad_(False) is model and not any(p.requires_grad for p in model.parameters())
    assert model.share_memory() is model
