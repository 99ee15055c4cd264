"""nerve.autocast: which ops run in which dtype (PyTorch 2.13's CPU autocast policy, each row checked
against torch.autocast("cpu", dtype=torch.bfloat16) when this was written), gradients' dtypes and
values against a float32 run, nesting, enabled=False, the decorator, the weight cache, a short training
run."""
import numpy as np
import pytest

import nerve
from nerve import nn
from nerve.nn import functional as F

BF16, F32 = nerve.bfloat16, nerve.float32


def _first(out):
    return out[0] if isinstance(out, tuple) else out


# (name, fn, dtype under autocast). fp32 inputs unless the name says bf16.
def _cases():
    nerve.manual_seed(0)
    x = nerve.randn(4, 8)
    xb = x.bfloat16()
    lin = nn.Linear(8, 6)
    img = nerve.randn(2, 3, 8, 8)
    seq = nerve.randn(5, 2, 8)
    target = nerve.tensor([0, 1, 2, 3])
    return [
        ("matmul", lambda: x @ lin.weight.T, BF16),
        ("mm", lambda: nerve.mm(x, lin.weight.T), BF16),
        ("bmm", lambda: nerve.bmm(seq, seq.transpose(1, 2)), BF16),
        ("linear", lambda: lin(x), BF16),
        ("conv1d", lambda: F.conv1d(seq.permute(1, 2, 0), nerve.randn(4, 8, 3)), BF16),
        ("conv2d", lambda: nn.Conv2d(3, 4, 3)(img), BF16),
        ("conv_transpose2d", lambda: F.conv_transpose2d(img, nerve.randn(3, 4, 3, 3)), BF16),
        ("scaled_dot_product_attention", lambda: F.scaled_dot_product_attention(seq[None], seq[None], seq[None]),
         BF16),
        ("multihead_attention", lambda: nn.MultiheadAttention(8, 2)(seq, seq, seq)[0], BF16),
        ("lstm", lambda: nn.LSTM(8, 4)(seq), BF16),
        ("rnn", lambda: nn.RNN(8, 4)(seq), BF16),
        ("gru", lambda: nn.GRU(8, 4)(seq), F32),  # not in PyTorch's CPU lower-precision list
        ("softmax", lambda: F.softmax(x, -1), F32),
        ("softmax bf16", lambda: F.softmax(xb, -1), BF16),  # the CPU policy does not cast softmax
        ("log_softmax bf16", lambda: F.log_softmax(xb, -1), BF16),
        ("cross_entropy bf16", lambda: F.cross_entropy(xb, target), F32),
        ("nll_loss bf16", lambda: F.nll_loss(xb, target), F32),
        ("mse_loss bf16", lambda: F.mse_loss(xb, xb), F32),
        ("l1_loss bf16", lambda: F.l1_loss(xb, xb), F32),
        ("smooth_l1_loss bf16", lambda: F.smooth_l1_loss(xb, xb), F32),
        ("huber_loss bf16", lambda: F.huber_loss(xb, xb), F32),
        ("binary_cross_entropy bf16", lambda: F.binary_cross_entropy(xb.sigmoid(), xb.sigmoid()), F32),
        ("binary_cross_entropy_with_logits bf16", lambda: F.binary_cross_entropy_with_logits(xb, xb.sigmoid()), F32),
        ("layer_norm bf16", lambda: F.layer_norm(xb, (8,), nerve.ones(8), nerve.zeros(8)), BF16),
        ("batch_norm bf16", lambda: nn.BatchNorm2d(3)(img.bfloat16()), BF16),
        ("sum bf16", lambda: xb.sum(), BF16),
        ("mean bf16", lambda: xb.mean(), BF16),
        ("var bf16", lambda: xb.var(), BF16),
        ("relu bf16", lambda: F.relu(xb), BF16),
        ("gelu bf16", lambda: F.gelu(xb), BF16),
        ("tanh bf16", lambda: xb.tanh(), BF16),
        ("dropout bf16", lambda: F.dropout(xb, 0.5), BF16),
        ("max_pool2d bf16", lambda: F.max_pool2d(img.bfloat16(), 2), BF16),
        ("bf16 + float32", lambda: xb + x, F32),
        ("bf16 + 0-d float32", lambda: xb + nerve.tensor(1.0), BF16),
        ("embedding", lambda: nn.Embedding(5, 3)(nerve.tensor([0, 1])), F32),
        ("matmul float64", lambda: x.double() @ lin.weight.T.double(), nerve.float64),
    ]


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c[0])
def test_policy_output_dtypes(case):
    _, fn, dtype = case
    with nerve.autocast("cpu", dtype=nerve.bfloat16):
        assert _first(fn()).dtype == dtype
    if dtype == BF16 and "bf16" not in case[0]:
        assert _first(fn()).dtype == F32  # outside autocast nothing changes


def test_policy_tables_name_existing_ops():
    from nerve import amp, ops
    functions = {name for module in vars(ops).values() if hasattr(module, "__name__")
                 for name in dir(module) if isinstance(getattr(module, name), type)}
    assert amp.LOWER_PRECISION <= functions and amp.BF16_NATIVE <= functions and amp.NORMS <= functions
    assert all(callable(getattr(F, name)) for name in amp.FLOAT32)


def test_linear_matches_bf16_rounded_reference():
    nerve.manual_seed(1)
    x, lin = nerve.randn(9, 33), nn.Linear(33, 17)
    with nerve.autocast("cpu"):
        out = lin(x)
    xb, wb, bb = (t.detach().bfloat16().float().numpy().astype(np.float64) for t in (x, lin.weight, lin.bias))
    out = out.detach()
    ref = xb @ wb.T + bb
    np.testing.assert_allclose(out.float().numpy(), ref, rtol=2 ** -8, atol=33 * 2 ** -20)


def _mlp_grads(autocast):
    nerve.manual_seed(3)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 10))
    x, y = nerve.randn(24, 16), nerve.randint(0, 10, (24,))
    with nerve.autocast("cpu", enabled=autocast):
        loss = F.cross_entropy(model(x), y)
    assert loss.dtype == F32
    loss.backward()
    return loss.item(), [p.grad for p in model.parameters()], list(model.parameters())


def test_gradients_are_float32_and_close_to_float32_run():
    loss32, grads32, _ = _mlp_grads(False)
    loss16, grads16, params = _mlp_grads(True)
    assert all(p.dtype == F32 for p in params)  # master weights stay float32
    assert all(g.dtype == F32 for g in grads16)  # gradients arrive in the parameters' dtype
    assert abs(loss16 - loss32) < 0.02
    for g16, g32 in zip(grads16, grads32):
        scale = np.abs(g32.numpy()).max()
        np.testing.assert_allclose(g16.numpy(), g32.numpy(), atol=0.03 * scale)


def test_nesting_and_enabled_false():
    x, w = nerve.randn(3, 4), nerve.randn(4, 2)
    assert not nerve.is_autocast_enabled() and not nerve.is_autocast_enabled("cpu")
    with nerve.autocast("cpu"):
        assert nerve.is_autocast_enabled("cpu") and nerve.is_autocast_enabled()
        assert not nerve.is_autocast_enabled("cuda")
        assert nerve.get_autocast_dtype("cpu") == BF16
        assert (x @ w).dtype == BF16
        with nerve.autocast("cpu", enabled=False):
            assert not nerve.is_autocast_enabled("cpu")
            assert (x @ w).dtype == F32
            with nerve.autocast("cpu"):
                assert (x @ w).dtype == BF16
            assert (x @ w).dtype == F32
        assert (x @ w).dtype == BF16
    assert (x @ w).dtype == F32 and not nerve.is_autocast_enabled()


def test_cuda_autocast_leaves_cpu_tensors_alone():
    x, w = nerve.randn(3, 4), nerve.randn(4, 2)
    with pytest.warns(UserWarning, match="bfloat16"):  # float16 (CUDA's default) is not computed by nerve yet
        region = nerve.autocast("cuda")
    with region:
        assert (x @ w).dtype == F32
    with nerve.autocast("cuda", dtype=nerve.bfloat16):
        assert (x @ w).dtype == F32


def test_decorator_and_aliases():
    x, w = nerve.randn(3, 4), nerve.randn(4, 2)

    @nerve.autocast("cpu")
    def f(a, b):
        return a @ b

    @nerve.cpu.amp.autocast()
    def g(a, b):
        return a @ b

    assert f(x, w).dtype == BF16 and g(x, w).dtype == BF16
    assert nerve.amp.autocast is nerve.autocast
    with nerve.cpu.amp.autocast(enabled=False):
        assert (x @ w).dtype == F32
    assert (x @ w).dtype == F32


def test_weight_cast_is_cached_per_region_and_renewed_after_a_change():
    lin = nn.Linear(4, 3)
    x = nerve.randn(2, 4)

    def cast_node(out):  # Linear's node -> the node feeding it the weight: the cast
        return out.grad_fn.next_nodes[1]

    with nerve.autocast("cpu"):
        a, b = lin(x), lin(x)
        assert cast_node(a) is cast_node(b)  # one cast of the weight for both calls
        with nerve.no_grad():
            lin.weight.add_(1.0)
        c = lin(x)
        assert cast_node(c) is not cast_node(a)  # the weight changed in place: cast again
        np.testing.assert_allclose(c.detach().float().numpy(), (a.float() + x.sum(1, keepdim=True)).detach().numpy(),
                                   rtol=0.02, atol=0.05)
    with nerve.autocast("cpu"):
        assert cast_node(lin(x)) is not cast_node(a)  # a new region: a new cast
    with nerve.autocast("cpu", cache_enabled=False):
        assert cast_node(lin(x)) is not cast_node(lin(x))


def test_short_training_run_tracks_float32():
    def run(autocast):
        nerve.manual_seed(0)
        model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 5))
        opt = nerve.optim.Adam(model.parameters(), lr=1e-2)
        rng = np.random.default_rng(0)
        centers = rng.standard_normal((5, 20)) * 2
        losses = []
        for _ in range(40):
            y = rng.integers(0, 5, 32)
            x = nerve.tensor((centers[y] + rng.standard_normal((32, 20))).astype(np.float32))
            with nerve.autocast("cpu", enabled=autocast):
                loss = F.cross_entropy(model(x), nerve.tensor(y))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert all(p.dtype == F32 for p in model.parameters())
        assert all(s["exp_avg"].dtype == F32 for s in opt.state.values())  # optimizer state stays float32
        return np.array(losses)

    fp32, bf16 = run(False), run(True)
    assert fp32[-5:].mean() < 0.5 * fp32[:5].mean()  # it learns
    assert (np.abs(bf16 - fp32) <= 0.05 + 0.05 * fp32).all(), np.abs(bf16 - fp32).max()
