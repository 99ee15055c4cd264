"""Module behaviour (registration, naming order, modes, state dicts, repr,
dtype), containers, init statistics, gradient clipping, activation modules
and dropout, against NumPy and PyTorch's documented behaviour."""
import copy
import math
from collections import OrderedDict

import numpy as np
import pytest

import nerve
from nerve import nn
from nerve.nn import functional as F
from nerve.testing import gradcheck


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.register_buffer("scale", nerve.ones(4))
        self.register_buffer("steps", nerve.zeros(1, dtype=nerve.int64))
        self.register_buffer("cache", nerve.zeros(2), persistent=False)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.fc(x)) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(2, 3)
        self.blocks = nn.ModuleList([Block(), Block()])
        self.head = nn.Sequential(OrderedDict(norm=nn.Identity(), out=nn.Linear(4, 1)))
        self.heads = nn.ModuleDict({"b": nn.Linear(4, 2), "a": nn.Linear(4, 2, bias=False)})
        self.gain = nn.Parameter(nerve.ones(1))

    def forward(self, x):
        x = self.embed(x)
        for b in self.blocks:
            x = b(x)[..., :3]
        return self.head(nerve.cat([x, x[..., :1]], dim=-1)) * self.gain


# ----------------------------------------------------------------- naming
def test_named_parameters_order_matches_pytorch():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "gain", "embed.weight", "embed.bias",
        "blocks.0.fc.weight", "blocks.0.fc.bias", "blocks.1.fc.weight", "blocks.1.fc.bias",
        "head.out.weight", "head.out.bias", "heads.b.weight", "heads.b.bias", "heads.a.weight"]
    assert [n for n, _ in net.named_parameters(recurse=False)] == ["gain"]
    assert len(list(net.parameters())) == 12


def test_state_dict_order_buffers_and_persistence():
    net = Net()
    # PyTorch: a module's own parameters, then its persistent buffers, then its children
    assert list(net.state_dict()) == [
        "gain", "embed.weight", "embed.bias",
        "blocks.0.scale", "blocks.0.steps", "blocks.0.fc.weight", "blocks.0.fc.bias",
        "blocks.1.scale", "blocks.1.steps", "blocks.1.fc.weight", "blocks.1.fc.bias",
        "head.out.weight", "head.out.bias", "heads.b.weight", "heads.b.bias", "heads.a.weight"]
    assert [n for n, _ in net.named_buffers()] == [
        "blocks.0.scale", "blocks.0.steps", "blocks.0.cache", "blocks.1.scale", "blocks.1.steps", "blocks.1.cache"]
    assert list(net.state_dict(prefix="model.").keys())[:2] == ["model.gain", "model.embed.weight"]
    sd = net.state_dict()
    assert not sd["embed.weight"].requires_grad
    assert np.shares_memory(sd["embed.weight"].numpy(), net.embed.weight.data)  # detached, not copied
    assert net.state_dict(keep_vars=True)["embed.weight"] is net.embed.weight


def test_named_modules_and_children():
    net = Net()
    names = [n for n, _ in net.named_modules()]
    assert names == ["", "embed", "blocks", "blocks.0", "blocks.0.fc", "blocks.0.act", "blocks.1", "blocks.1.fc",
                     "blocks.1.act", "head", "head.norm", "head.out", "heads", "heads.b", "heads.a"]
    assert [n for n, _ in net.named_children()] == ["embed", "blocks", "head", "heads"]
    assert list(net.children())[1] is net.blocks
    assert net.get_submodule("blocks.1.fc") is net.blocks[1].fc
    with pytest.raises(AttributeError, match="has no submodule 'nope'"):
        net.get_submodule("blocks.nope")


def test_shared_parameters_and_modules():
    lin = nn.Linear(2, 2)
    m = nn.Sequential(lin, nn.ReLU(), lin)
    assert [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias"]  # deduplicated
    assert [n for n, _ in m.named_modules()] == ["", "0", "1"]
    assert list(m.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]  # PyTorch keeps both names


# ----------------------------------------------------------- registration
def test_registration_by_attribute():
    m = nn.Module()
    m.w = nn.Parameter(nerve.zeros(2))
    m.sub = nn.Linear(1, 1)
    m.plain = nerve.zeros(3)  # a plain tensor is an ordinary attribute, as in PyTorch
    m.register_buffer("buf", nerve.ones(2))
    assert list(m._parameters) == ["w"] and list(m._modules) == ["sub"] and list(m._buffers) == ["buf"]
    assert "plain" not in m.state_dict()
    with pytest.raises(TypeError, match="cannot assign Tensor as parameter 'w'"):
        m.w = nerve.zeros(2)
    m.w = None
    assert m.w is None and list(m.parameters())[0] is m.sub.weight
    m.buf = nerve.zeros(5)  # a buffer can be replaced by a tensor
    assert m.buf.shape == (5,)
    with pytest.raises(TypeError, match="cannot assign Linear as buffer|cannot assign"):
        m.buf = 3
    del m.sub
    assert "sub" not in m._modules
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'sub'"):
        m.sub
    m.w = nn.Parameter(nerve.zeros(1))
    m.w = nn.Linear(1, 1)  # re-registering under another kind moves it
    assert "w" in m._modules and "w" not in m._parameters


def test_register_name_checks():
    m = nn.Linear(2, 2)
    with pytest.raises(KeyError, match=r"register_buffer: name must not be empty or contain a dot, got .a\.b"):
        m.register_buffer("a.b", nerve.zeros(1))
    with pytest.raises(KeyError, match=r"register_buffer: attribute 'weight' already exists"):
        m.register_buffer("weight", nerve.zeros(1))
    with pytest.raises(KeyError, match=r"add_module: attribute 'training' already exists"):
        m.add_module("training", nn.ReLU())
    with pytest.raises(TypeError, match=r"register_parameter: 'p' expected a Parameter or None, got Tensor"):
        m.register_parameter("p", nerve.zeros(1))
    with pytest.raises(TypeError, match=r"add_module: 'x' expected a Module, got int"):
        m.add_module("x", 3)
    m.register_buffer("b", nerve.zeros(1), persistent=False)
    assert "b" not in m.state_dict()
    m.register_buffer("b", nerve.zeros(1))  # persistent again
    assert "b" in m.state_dict()

    class Early(nn.Module):
        def __init__(self):
            self.x = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_linear_without_bias_and_parameter_basics():
    lin = nn.Linear(3, 2, bias=False)
    assert lin.bias is None and [n for n, _ in lin.named_parameters()] == ["weight"]
    assert lin.weight.shape == (2, 3)
    t = nerve.ones(3)
    p = nn.Parameter(t)
    assert p.requires_grad and p.is_leaf and isinstance(p, nerve.Tensor)
    assert np.shares_memory(p.data, t.data)
    assert repr(p).startswith("Parameter containing:\ntensor([1., 1., 1.]")
    assert not nn.Parameter(t, requires_grad=False).requires_grad


# --------------------------------------------------------- modes and apply
def test_apply_visits_children_first():
    net = Net()
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Linear", "Linear", "ReLU", "Block", "Linear", "ReLU", "Block", "ModuleList", "Identity", "Linear",
                    "Sequential", "Linear", "Linear", "ModuleDict", "Net"]

    def init(m):
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.weight)

    net.apply(init)
    assert all((m.weight.data == 0).all() for m in net.modules() if isinstance(m, nn.Linear))


def test_train_eval_propagate_through_overrides():
    calls = []

    class Custom(nn.Module):
        def train(self, mode=True):
            calls.append(mode)
            return super().train(mode)

    net = nn.Sequential(nn.Linear(1, 1), nn.Sequential(Custom(), nn.Dropout()))
    assert net.training and all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules()) and calls == [False]
    net.train()
    assert all(m.training for m in net.modules()) and calls == [False, True]
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        net.train("yes")


def test_zero_grad_and_requires_grad():
    net = nn.Linear(3, 2)
    net(nerve.randn(4, 3)).sum().backward()
    assert net.weight.grad is not None
    net.zero_grad(set_to_none=False)
    assert (net.weight.grad.numpy() == 0).all()
    net.zero_grad()
    assert net.weight.grad is None and net.bias.grad is None
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


# ------------------------------------------------------------------- repr
def test_repr_matches_pytorch_text():
    net = Net()
    net.blocks.append(nn.Linear(3, 4)).append(nn.Linear(3, 4)).append(nn.Linear(3, 4))
    assert repr(net) == """Net(
  (embed): Linear(in_features=2, out_features=3, bias=True)
  (blocks): ModuleList(
    (0-1): 2 x Block(
      (fc): Linear(in_features=3, out_features=4, bias=True)
      (act): ReLU()
    )
    (2-4): 3 x Linear(in_features=3, out_features=4, bias=True)
  )
  (head): Sequential(
    (norm): Identity()
    (out): Linear(in_features=4, out_features=1, bias=True)
  )
  (heads): ModuleDict(
    (b): Linear(in_features=4, out_features=2, bias=True)
    (a): Linear(in_features=4, out_features=2, bias=False)
  )
)"""
    assert repr(nn.ModuleList()) == "ModuleList()"
    assert repr(nn.Sequential()) == "Sequential()"
    reprs = {
        nn.ReLU(): "ReLU()", nn.ReLU(inplace=True): "ReLU(inplace=True)", nn.LeakyReLU(0.2): "LeakyReLU(negative_slope=0.2)",
        nn.Dropout(0.1): "Dropout(p=0.1, inplace=False)", nn.Dropout2d(): "Dropout2d(p=0.5, inplace=False)",
        nn.Flatten(): "Flatten(start_dim=1, end_dim=-1)", nn.Softmax(dim=1): "Softmax(dim=1)",
        nn.GELU(): "GELU(approximate='none')", nn.Softplus(): "Softplus(beta=1.0, threshold=20.0)",
        nn.ELU(): "ELU(alpha=1.0)", nn.Hardtanh(): "Hardtanh(min_val=-1.0, max_val=1.0)", nn.ReLU6(): "ReLU6()",
        nn.Tanh(): "Tanh()", nn.MSELoss(): "MSELoss()",
    }
    for m, text in reprs.items():
        assert repr(m) == text


# -------------------------------------------------------------- state dict
def test_load_state_dict_round_trip_copies_values():
    a, b = Net(), Net()
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_array_equal(pa.numpy(), pb.numpy())
        assert not np.shares_memory(pa.numpy(), pb.numpy()), name
    x = nerve.randn(5, 2)
    with nerve.no_grad():
        np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    # numpy arrays (e.g. a converted PyTorch checkpoint) load too, cast to the parameter dtype
    sd = {k: v.numpy().astype(np.float64) for k, v in a.state_dict().items()}
    b.load_state_dict(sd)
    assert b.embed.weight.dtype == np.float32


def test_load_state_dict_messages():
    net = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 3))
    sd = net.state_dict()
    bad = OrderedDict(sd)
    del bad["1.bias"]
    bad["0.weight"] = nerve.zeros(3, 3)
    bad["extra.weight"] = nerve.zeros(1)
    with pytest.raises(RuntimeError) as err:
        net.load_state_dict(bad)
    assert str(err.value) == (
        "Error(s) in loading state_dict for Sequential:\n"
        '\tMissing key(s) in state_dict: "1.bias". \n'
        '\tUnexpected key(s) in state_dict: "extra.weight". \n'
        "\tsize mismatch for 0.weight: copying a param with shape (3, 3) from checkpoint, the shape in current model "
        "is (8, 4).")
    before = net[1].weight.detach().numpy().copy()
    with pytest.raises(RuntimeError, match=r"size mismatch for 0.weight"):  # shapes are checked even when not strict
        net.load_state_dict(bad, strict=False)
    np.testing.assert_array_equal(net[1].weight.detach().numpy(), before)  # nothing was loaded
    del bad["0.weight"]
    bad["1.weight"] = nerve.ones(3, 8)
    missing, unexpected = net.load_state_dict(bad, strict=False)
    assert missing == ["0.weight", "1.bias"] and unexpected == ["extra.weight"]
    assert (net[1].weight.detach().numpy() == 1).all()
    with pytest.raises(TypeError, match="expected state_dict to be dict-like, got list"):
        net.load_state_dict([1, 2])


# --------------------------------------------------------------- dtype/device
def test_to_dtype_converts_float_params_buffers_and_grads():
    net = Net()
    net(nerve.randn(2, 2)).sum().backward()
    weight = net.embed.weight
    assert net.to(nerve.float64) is net
    assert net.embed.weight is weight  # same Parameter objects, new arrays
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net.blocks[0].scale.dtype == np.float64 and net.blocks[0].cache.dtype == np.float64
    assert net.blocks[0].steps.dtype == np.int64  # integer buffers keep their dtype
    assert net.embed.weight.grad.dtype == np.float64
    out = net(nerve.randn(2, 2, dtype=nerve.float64))
    assert out.dtype == np.float64
    net.float()
    assert net.embed.weight.dtype == np.float32
    net.to(nerve.zeros(1, dtype=nerve.float64))
    assert net.embed.weight.dtype == np.float64
    net.to("cpu", dtype=nerve.float32)
    assert net.embed.weight.dtype == np.float32 and net.embed.weight.device == "cpu"
    with pytest.raises(TypeError, match="only floating point dtypes"):
        net.to(nerve.int32)


def test_deepcopy_gives_independent_module():
    net = Net()
    twin = copy.deepcopy(net)
    assert list(twin.state_dict()) == list(net.state_dict())
    assert not np.shares_memory(twin.embed.weight.data, net.embed.weight.data)
    assert isinstance(twin.embed.weight, nn.Parameter)


# -------------------------------------------------------------- containers
def test_sequential_and_lists():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear)
    head = seq[1:]
    assert isinstance(head, nn.Sequential) and list(head._modules) == ["1", "2"]
    x = nerve.randn(4, 2)
    with nerve.no_grad():
        np.testing.assert_allclose(seq(x).numpy(), seq[2](seq[1](seq[0](x))).numpy())
    seq.append(nn.Tanh())
    assert list(seq._modules) == ["0", "1", "2", "3"]
    del seq[1]
    assert list(seq._modules) == ["0", "2", "3"]
    ml = nn.ModuleList([nn.ReLU(), nn.Tanh()])
    ml.insert(1, nn.Sigmoid())
    ml += [nn.GELU()]
    assert [type(m).__name__ for m in ml] == ["ReLU", "Sigmoid", "Tanh", "GELU"] and list(ml._modules) == list("0123")
    del ml[0]
    assert list(ml._modules) == ["0", "1", "2"] and isinstance(ml[0], nn.Sigmoid)
    ml[-1] = nn.ReLU()
    assert isinstance(ml[2], nn.ReLU) and len(ml[1:]) == 2
    md = nn.ModuleDict({"x": nn.ReLU()})
    md.update({"y": nn.Tanh()})
    md["z"] = nn.Sigmoid()
    assert list(md.keys()) == ["x", "y", "z"] and "y" in md and len(md) == 3
    assert isinstance(md.pop("x"), nn.ReLU) and list(md) == ["y", "z"]
    pl = nn.ParameterList([nn.Parameter(nerve.zeros(1)), nn.Parameter(nerve.zeros(2))])
    assert [n for n, _ in pl.named_parameters()] == ["0", "1"]


def test_flatten_and_identity():
    x = nerve.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert nn.Identity(3, foo=1)(x) is x


# -------------------------------------------------------------------- init
def stats(shape, fn):
    t = nerve.empty(*shape, dtype=nerve.float64)
    fn(t)
    return t.numpy()


def test_init_uniform_normal_constant():
    a = stats((200, 300), lambda t: nn.init.uniform_(t, -2.0, 3.0))
    assert a.min() >= -2 and a.max() < 3
    assert abs(a.mean() - 0.5) < 4 * 5 / math.sqrt(12 * a.size)
    assert abs(a.var() - 25 / 12) < 0.05
    a = stats((200, 300), lambda t: nn.init.normal_(t, 1.5, 0.5))
    assert abs(a.mean() - 1.5) < 4 * 0.5 / math.sqrt(a.size) and abs(a.std() - 0.5) < 0.01
    assert (stats((3, 4), nn.init.zeros_) == 0).all() and (stats((3, 4), nn.init.ones_) == 1).all()
    assert (stats((3,), lambda t: nn.init.constant_(t, 0.25)) == 0.25).all()
    np.testing.assert_array_equal(stats((3, 4), nn.init.eye_), np.eye(3, 4))
    p = nn.Parameter(nerve.zeros(3, 4))
    nn.init.normal_(p)
    assert p.dtype == np.float32 and p.requires_grad and p.is_leaf and p.grad_fn is None


@pytest.mark.parametrize("shape", [(200, 300), (64, 32, 3, 3)])
def test_init_xavier_and_kaiming_statistics(shape):
    receptive = int(np.prod(shape[2:]))
    fan_in, fan_out = shape[1] * receptive, shape[0] * receptive
    assert nn.init._calculate_fan_in_and_fan_out(nerve.empty(*shape)) == (fan_in, fan_out)
    a = stats(shape, lambda t: nn.init.xavier_uniform_(t, gain=2.0))
    bound = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    assert a.max() <= bound and a.min() >= -bound and a.max() > 0.99 * bound
    assert abs(a.std() / (bound / math.sqrt(3)) - 1) < 0.02
    a = stats(shape, lambda t: nn.init.xavier_normal_(t))
    assert abs(a.std() / math.sqrt(2 / (fan_in + fan_out)) - 1) < 0.02
    a = stats(shape, lambda t: nn.init.kaiming_uniform_(t, a=0.1, nonlinearity="leaky_relu"))
    bound = math.sqrt(2 / (1 + 0.01)) * math.sqrt(3 / fan_in)
    assert a.max() <= bound and a.max() > 0.99 * bound
    a = stats(shape, lambda t: nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"))
    assert abs(a.std() / math.sqrt(2 / fan_out) - 1) < 0.02 and abs(a.mean()) < 0.01
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(nerve.empty(5))
    with pytest.raises(ValueError, match="mode 'fan_avg' not supported"):
        nn.init.kaiming_normal_(nerve.empty(3, 3), mode="fan_avg")


def test_calculate_gain_and_linear_default_init():
    g = nn.init.calculate_gain
    assert g("linear") == 1 and g("sigmoid") == 1 and g("tanh") == pytest.approx(5 / 3)
    assert g("relu") == pytest.approx(math.sqrt(2)) and g("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert g("selu") == 0.75
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        g("swish")
    lin = nn.Linear(400, 300)  # PyTorch: weight and bias ~ U(-1/sqrt(in), 1/sqrt(in))
    w, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    bound = 1 / math.sqrt(400)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound and np.abs(b).max() <= bound
    assert abs(w.std() / (bound / math.sqrt(3)) - 1) < 0.02


# ------------------------------------------------------------ grad clipping
def grads_of(rng, shapes, dtype=np.float64):
    params = []
    for s in shapes:
        p = nn.Parameter(nerve.zeros(*s, dtype=dtype))
        p.grad = nerve.tensor(rng.standard_normal(s).astype(dtype))
        params.append(p)
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_clip_grad_norm_matches_numpy(norm_type, rng):
    params = grads_of(rng, [(3, 4), (7,), (1,)])
    g = [p.grad.numpy().copy() for p in params]
    flat = np.concatenate([x.ravel() for x in g])
    total = np.abs(flat).max() if norm_type == math.inf else (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)
    out = nn.utils.clip_grad_norm_(iter(params), max_norm=0.5, norm_type=norm_type)
    assert out.item() == pytest.approx(total, rel=1e-10)
    for p, x in zip(params, g):
        np.testing.assert_allclose(p.grad.numpy(), x * 0.5 / (total + 1e-6), rtol=1e-12)
    # under the limit: untouched
    params = grads_of(rng, [(2, 2)])
    before = params[0].grad.numpy().copy()
    nn.utils.clip_grad_norm_(params, max_norm=1e6, norm_type=norm_type)
    np.testing.assert_array_equal(params[0].grad.numpy(), before)


def test_clip_grad_norm_edges(rng):
    params = grads_of(rng, [(3,)], np.float32)
    assert nn.utils.clip_grad_norm_(params, 1.0).dtype == np.float32
    assert nn.utils.clip_grad_norm_([nn.Parameter(nerve.zeros(2))], 1.0).item() == 0  # no grads
    params[0].grad = nerve.tensor(np.array([np.inf, 1.0], np.float32))
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)


def test_clip_grad_value(rng):
    params = grads_of(rng, [(5, 5), (3,)])
    g = [p.grad.numpy().copy() for p in params]
    nn.utils.clip_grad_value_(params, 0.3)
    for p, x in zip(params, g):
        np.testing.assert_array_equal(p.grad.numpy(), np.clip(x, -0.3, 0.3))


# -------------------------------------------------------------- activations
def _softplus(x, beta=1.0, threshold=20.0):
    return np.where(x * beta > threshold, x, np.logaddexp(0, beta * x) / beta)


def _elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def _erf(x):
    return np.vectorize(math.erf)(x)


SELU_A, SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
ACTIVATIONS = [
    (nn.ReLU(), lambda x: np.maximum(x, 0)),
    (nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    (nn.Tanh(), np.tanh),
    (nn.GELU(), lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2)))),
    (nn.GELU("tanh"), lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))),
    (nn.SiLU(), lambda x: x / (1 + np.exp(-x))),
    (nn.Softplus(), _softplus),
    (nn.Softplus(beta=2.0, threshold=5.0), lambda x: _softplus(x, 2.0, 5.0)),
    (nn.Softmax(dim=1), lambda x: np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)),
    (nn.LogSoftmax(dim=-1), lambda x: x - np.log(np.exp(x).sum(axis=-1, keepdims=True))),
    (nn.ELU(), _elu),
    (nn.ELU(alpha=0.5), lambda x: _elu(x, 0.5)),
    (nn.CELU(alpha=2.0), lambda x: np.where(x > 0, x, 2.0 * np.expm1(np.minimum(x, 0) / 2.0))),
    (nn.SELU(), lambda x: SELU_S * _elu(x, SELU_A)),
    (nn.Hardtanh(-2.0, 1.5), lambda x: np.clip(x, -2.0, 1.5)),
    (nn.ReLU6(), lambda x: np.clip(x, 0, 6)),
    (nn.Softsign(), lambda x: x / (1 + np.abs(x))),
    (nn.LogSigmoid(), lambda x: -np.logaddexp(0, -x)),
    (nn.Mish(), lambda x: x * np.tanh(np.logaddexp(0, x))),
    (nn.Hardsigmoid(), lambda x: np.clip(x / 6 + 0.5, 0, 1)),
    (nn.Hardswish(), lambda x: x * np.clip(x / 6 + 0.5, 0, 1)),
]


@pytest.mark.parametrize("module,ref", ACTIVATIONS, ids=[repr(m) for m, _ in ACTIVATIONS])
def test_activation_modules(module, ref, rng):
    x = rng.uniform(-8, 8, (3, 7))
    kinks = np.array([-3, -2, 0, 1.5, 2.5, 3, 6])  # keep finite differences off the kinks
    near = np.abs(x[..., None] - kinks).min(axis=-1) < 1e-3
    x[near] += 0.01
    out = module(nerve.tensor(x))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), ref(x), rtol=1e-10, atol=1e-12)
    out32 = module(nerve.tensor(x.astype(np.float32)))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32.numpy(), ref(x), rtol=1e-5, atol=1e-6)
    assert gradcheck(module, [x])


def test_activations_extreme_inputs_stay_finite():
    x = nerve.tensor([-1e4, -50.0, 0.0, 50.0, 1e4], dtype=nerve.float64, requires_grad=True)
    for module in [nn.ELU(), nn.SELU(), nn.CELU(0.5), nn.LogSigmoid(), nn.Mish(), nn.Softplus(), nn.Softsign()]:
        x.grad = None
        out = module(x)
        out.sum().backward()
        assert np.isfinite(out.detach().numpy()).all() and np.isfinite(x.grad.numpy()).all(), repr(module)


def test_inplace_activation_writes_input():
    x = nerve.tensor([-2.0, 0.5, 3.0])
    assert nn.Hardtanh(inplace=True)(x) is x
    np.testing.assert_array_equal(x.numpy(), [-1, 0.5, 1])
    with pytest.raises(ValueError, match=r"Hardtanh: min_val \(2\) cannot be greater than max_val \(1\)"):
        nn.Hardtanh(2, 1)


# ------------------------------------------------------------------ dropout
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics_and_gradient(p):
    x = nerve.ones(100, 200, requires_grad=True)
    y = nn.Dropout(p)(x)
    v = y.detach().numpy()
    kept = v != 0
    assert np.allclose(v[kept], 1 / (1 - p))
    n = v.size
    assert abs((~kept).mean() - p) < 4 * math.sqrt(p * (1 - p) / n)
    assert abs(v.mean() - 1) < 4 * math.sqrt(p / (1 - p) / n)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), v)  # d y / d x is the mask itself


@pytest.mark.parametrize("shape", [(20, 30, 4, 5), (300, 4, 5)])
def test_dropout2d_zeroes_whole_channels(shape):
    p = 0.3
    y = nn.Dropout2d(p)(nerve.ones(*shape)).numpy()
    per_channel = y.reshape(shape[:-2] + (-1,))
    assert (per_channel == per_channel[..., :1]).all()  # one decision per (n, c)
    dropped = (per_channel[..., 0] == 0).mean()
    assert abs(dropped - p) < 4 * math.sqrt(p * (1 - p) / per_channel[..., 0].size)
    assert np.allclose(per_channel[per_channel != 0], 1 / (1 - p))


def test_dropout_eval_identity_and_edges():
    x = nerve.randn(4, 3, 2, 2)
    for m in (nn.Dropout(0.5), nn.Dropout2d(0.5)):
        m.eval()
        assert m(x) is x
        m.train()
        assert (m(x).numpy() != x.numpy()).any()
    assert F.dropout(x, 0.0) is x
    y = x.clone()
    out = nn.Dropout(0.5, inplace=True)(y)
    assert out is y and (y.numpy() == 0).any() and ((y.numpy() == 0) | np.isclose(y.numpy(), 2 * x.numpy())).all()
    assert (F.dropout(x, 1.0).numpy() == 0).all() and (F.dropout2d(x, 1.0).numpy() == 0).all()
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=f"probability has to be between 0 and 1, but got {bad}"):
            nn.Dropout(bad)
    nerve.manual_seed(3)
    a = nn.Dropout()(x).numpy()
    nerve.manual_seed(3)
    np.testing.assert_array_equal(nn.Dropout()(x).numpy(), a)  # seeded


def test_parameter_dict_and_list():
    pd = nn.ParameterDict({"a": nn.Parameter(nerve.ones(2)), "b": nerve.zeros(3)})
    assert list(pd) == ["a", "b"] and isinstance(pd["b"], nn.Parameter)  # a Tensor is wrapped
    pd["c"] = nerve.ones(1)
    pd.update([("d", nerve.ones(4))])
    assert [n for n, _ in pd.named_parameters()] == ["a", "b", "c", "d"] and "c" in pd and len(pd) == 4
    del pd["a"]
    assert list(pd.keys()) == ["b", "c", "d"] and pd.get("zz") is None
    pl = nn.ParameterList([nerve.ones(2)])
    pl.append(nn.Parameter(nerve.zeros(1)))
    pl.extend([nerve.ones(3)])
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2"] and all(isinstance(p, nn.Parameter) for p in pl)
    pl[0] = nerve.full((2,), 5.0)
    assert pl[0].tolist() == [5.0, 5.0] and len(pl[1:]) == 2


def test_unflatten():
    x = nerve.randn(2, 12, 5)
    assert nn.Unflatten(1, (3, 4))(x).shape == (2, 3, 4, 5)
    assert nn.Unflatten(-1, (5, 1))(x).shape == (2, 12, 5, 1)
    y = nn.Sequential(nn.Flatten(), nn.Unflatten(1, (12, 5)))(x)
    np.testing.assert_array_equal(y.numpy(), x.numpy())


@pytest.mark.parametrize("make", [lambda ip: nn.LeakyReLU(0.2, inplace=ip), lambda ip: nn.ReLU(ip),
                                  lambda ip: nn.ELU(inplace=ip), lambda ip: nn.Hardtanh(inplace=ip),
                                  lambda ip: nn.SELU(ip), lambda ip: nn.CELU(inplace=ip), lambda ip: nn.Mish(ip),
                                  lambda ip: nn.Hardswish(ip), lambda ip: nn.Hardsigmoid(ip)])
def test_inplace_activation_inside_a_graph_backpropagates(make, rng):
    """conv -> LeakyReLU(inplace=True) -> ... (DCGAN's discriminator) raised 'a tensor saved for backward
    was modified by an in-place operation'; the gradient must equal the out-of-place one."""
    x0 = rng.standard_normal((3, 4)) * 2
    grads = []
    for inplace in (False, True):
        x = nerve.tensor(x0, requires_grad=True)
        h = x * 1.5
        y = make(inplace)(h)
        assert (y is h) == inplace
        (y * y).sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-6)
