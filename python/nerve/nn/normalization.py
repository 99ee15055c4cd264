"""GroupNorm and InstanceNorm1d/2d/3d with PyTorch's parameters, buffers and defaults."""
from nerve.nn import functional as F
from nerve.nn import init
from nerve.nn.batch_norm import _NormBase
from nerve.nn.module import Module
from nerve.nn.parameter import Parameter
from nerve.tensor import empty


class GroupNorm(Module):
    """Normalize each of num_groups channel groups over its channels and positions; weight, bias (C,)."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None):
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        if affine:
            self.weight = Parameter(empty(num_channels, dtype=dtype, device=device))
            self.bias = Parameter(empty(num_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, input):
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class _InstanceNorm(_NormBase):
    _dims = 2  # spatial dims of a batched input

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False, device=None,
                 dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def forward(self, input):
        """Batched (N, C, *spatial) or unbatched (C, *spatial)."""
        want = self._dims + 2
        if input.ndim not in (want - 1, want):
            raise ValueError(f"{type(self).__name__}: expected {want - 1}D (unbatched) or {want}D (batched) input, "
                             f"got {input.ndim}D input")
        if input.ndim == want - 1:
            return self.forward(input.unsqueeze(0)).squeeze(0)
        if input.shape[1] != self.num_features and self.affine:
            raise ValueError(f"{type(self).__name__}: expected input with {self.num_features} channels, got "
                             f"{input.shape[1]}")
        use_input_stats = self.training or not self.track_running_stats
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
        return F.instance_norm(input, self.running_mean, self.running_var, self.weight, self.bias, use_input_stats,
                               self.momentum, self.eps)


class InstanceNorm1d(_InstanceNorm):
    _dims = 1


class InstanceNorm2d(_InstanceNorm):
    _dims = 2


class InstanceNorm3d(_InstanceNorm):
    _dims = 3
