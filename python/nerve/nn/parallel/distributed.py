"""DistributedDataParallel: one model replica per rank, gradients averaged in buckets.

At construction rank 0's parameters and buffers are broadcast, so every
replica starts equal, and the trainable parameters are packed into buckets of
at most ``bucket_cap_mb`` (one dtype and device each), in reverse
registration order, roughly the order backward produces their gradients.

Reduction is driven by the autograd engine's post-accumulate hook
(``_post_accumulate_grad_hooks`` in autograd._accumulate). ``forward`` walks
the graph it just built and counts, for each parameter, the edges a gradient
will arrive by. Each accumulation decrements the count; a parameter whose
count reaches zero is ready, and a bucket whose parameters are all ready is
flattened into its contiguous buffer and a non-blocking all-reduce
(``MPI_Iallreduce``, or NCCL on the current stream) starts on it while
backward goes on with the layers below. Buckets start strictly in index
order, so every rank issues its collectives in the same order even when its
gradients arrive in another. When the last bucket has started, the hook
waits for all of them and writes the averages back into ``.grad``: when
``loss.backward()`` returns, the gradients are reduced, as in PyTorch.

Parameters forward does not reach on a rank (unused branches) count as
ready and contribute their current gradient, or zero, so ranks that take
different branches still agree. Each bucket carries one flag per parameter
(has a gradient on this rank) after its gradients, reduced with them: a
parameter without gradient on every rank keeps ``.grad`` None, as in
PyTorch (so optimizers skip it), any other gets the average.
Inside ``no_sync()`` forward prepares nothing, so gradients accumulate
locally; the first synchronised backward afterwards reduces the sum.
"""
import weakref
import zlib
from contextlib import contextmanager

import numpy as np

from nerve import backend
from nerve.autograd import is_grad_enabled
from nerve.distributed import process_group as dist
from nerve.nn.module import Module
from nerve.tensor import Tensor

__all__ = ["DistributedDataParallel"]


class _Bucket:
    def __init__(self, params):
        self.params = params
        sizes = [p.array.size for p in params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()
        # gradients, then one has-gradient flag per parameter (averaged: the share of ranks with one)
        self.buffer = backend.of(params[0].array).xp.empty(self.offsets[-1] + len(params), dtype=params[0].array.dtype)
        self.pending = 0  # parameters of this bucket still waiting for gradients in this backward
        self.work = None


class _ReadyHook:
    """The post-accumulate hook DDP puts on its parameters.

    Holds DDP weakly. A copy of a parameter (copy.deepcopy of the module, e.g.
    for an EMA model, or pickling) carries an inert hook, so copies neither
    drag the process group along nor report to the original DDP.
    """

    def __init__(self, ddp):
        self._ddp = weakref.ref(ddp)

    def __call__(self, param):
        ddp = self._ddp()
        if ddp is not None:
            ddp._on_grad(param)

    def __deepcopy__(self, memo):
        return _inert_hook

    def __reduce__(self):
        return (_inert, ())


def _inert_hook(param):
    pass


def _inert():
    return _inert_hook


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training; use it like the module itself.

    The default process group must be initialized. ``device_ids`` and
    ``output_device`` are accepted for PyTorch compatibility and not used:
    move the module to its device before wrapping it.
    ``broadcast_buffers``: copy rank 0's buffers (BatchNorm statistics) to
    every rank at the start of each forward in training mode (not in eval
    mode, so rank 0 may evaluate alone).
    """

    def __init__(self, module, device_ids=None, output_device=None, broadcast_buffers=True, bucket_cap_mb=25.0):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: argument 'module' expected a nerve.nn.Module, "
                            f"got {type(module).__name__}")
        if not dist.is_initialized():
            raise RuntimeError("DistributedDataParallel: the default process group is not initialized; "
                               "call nerve.distributed.init_process_group() first")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be > 0, got {bucket_cap_mb}")
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.require_backward_grad_sync = True
        self._group = dist._default_group("DistributedDataParallel")
        self._check_same_model()
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t, src=0)
        params = [p for p in module.parameters() if p.requires_grad]
        self._buckets = self._make_buckets(params, int(bucket_cap_mb * 2 ** 20))
        self._bucket_of = {id(p): b for b in self._buckets for p in b.params}
        self._reduced = False  # gradients of the last forward are reduced; more would be unreduced
        for p in params:
            p._post_accumulate_grad_hooks = list(getattr(p, "_post_accumulate_grad_hooks", ())) + [_ReadyHook(self)]
        self._reset()

    def _reset(self):
        self._expected = None  # id(param) -> gradient edges forward built into it; None: nothing to reduce
        self._counts = None    # id(param) -> gradient edges arrived so far in this backward
        self._next_bucket = 0  # buckets before it have their all-reduce started
        for b in self._buckets:
            b.work = None

    def _check_same_model(self):
        """Every rank must wrap the same architecture: compare a signature of names, shapes and dtypes."""
        sig = ";".join(f"{n}:{tuple(t.shape)}:{t.dtype}" for n, t in
                       list(self.module.named_parameters()) + list(self.module.named_buffers()))
        crc = zlib.crc32(sig.encode())
        first = next(iter(self.module.parameters()), None)
        xp = backend.of(first.array).xp if first is not None else np
        extremes = Tensor._wrap(xp.asarray([crc, -crc], dtype=np.int64))
        dist.all_reduce(extremes, dist.ReduceOp.MAX)  # (max, -min) over ranks
        high, neg_low = extremes.array.tolist()
        if high != -neg_low:
            raise RuntimeError("DistributedDataParallel: the wrapped models differ between ranks (parameter or "
                               "buffer names, shapes or dtypes); every rank must wrap the same architecture")

    @staticmethod
    def _make_buckets(params, cap_bytes):
        """Reverse registration order, one dtype and device per bucket, at most cap_bytes unless one param is larger."""
        buckets, filling, size = [], {}, {}
        for p in reversed(params):
            key = (p.array.dtype.str, str(p.device))
            if filling.get(key) and size[key] + p.array.nbytes > cap_bytes:
                buckets.append(_Bucket(filling.pop(key)))
            if key not in filling:
                filling[key], size[key] = [], 0
            filling[key].append(p)
            size[key] += p.array.nbytes
        buckets.extend(_Bucket(ps) for ps in filling.values())
        return buckets

    @contextmanager
    def no_sync(self):
        """Inside this block backward accumulates gradients locally, without communication."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    def forward(self, *inputs, **kwargs):
        self._check_previous_reduction()
        self._reduced = False
        if self.broadcast_buffers and self.module.training:
            for b in self.module.buffers():
                dist.broadcast(b, src=0)
        outputs = self.module(*inputs, **kwargs)
        if is_grad_enabled() and self.require_backward_grad_sync and self._buckets:
            self._prepare(outputs)
        return outputs

    def _check_previous_reduction(self):
        if self._expected is None:
            return
        partial = any(self._counts.values())
        self._reset()  # a forward without backward (e.g. evaluation with grad on) just leaves nothing to reduce
        if partial:
            raise RuntimeError(
                "DistributedDataParallel: the previous backward did not deliver gradients to every parameter "
                "that forward reached, so their reduction never finished (was only part of the output used in "
                "the loss, or did an op return no gradient?). Use every output in the loss, or run that "
                "forward/backward inside no_sync()")

    def _prepare(self, outputs):
        """Count the gradient edges into each parameter of the graph forward has just built."""
        expected = dict.fromkeys(self._bucket_of, 0)
        stack, seen = [], set()
        for t in _tensors_in(outputs):
            if not t.requires_grad:
                continue
            if t.grad_fn is None:
                if id(t) in expected:
                    expected[id(t)] += 1
            elif id(t.grad_fn) not in seen:
                seen.add(id(t.grad_fn))
                stack.append(t.grad_fn)
        while stack:
            node = stack.pop()
            for nxt in node.next_nodes:
                if nxt is None:
                    continue
                if isinstance(nxt, Tensor):
                    if id(nxt) in expected:
                        expected[id(nxt)] += 1
                elif id(nxt) not in seen:
                    seen.add(id(nxt))
                    stack.append(nxt)
        if not any(expected.values()):
            return  # no parameter takes part: backward (if any) will not touch them
        self._expected = expected
        self._counts = dict.fromkeys(expected, 0)
        self._next_bucket = 0
        for b in self._buckets:
            b.pending = sum(1 for p in b.params if expected[id(p)] > 0)
            b.work = None

    def _on_grad(self, param):
        """Post-accumulate hook: one more gradient edge of ``param`` has arrived."""
        key = id(param)
        if key not in self._bucket_of:
            return  # not one of ours (a shallow copy of one of our parameters shares the hook)
        if self._expected is None:
            if self._reduced:
                raise RuntimeError(
                    "DistributedDataParallel: a gradient arrived after this iteration's gradients were already "
                    "reduced (a second backward over one forward, or a loss on the wrapped module's parameters "
                    "computed outside forward); it would stay unreduced on this rank. Run forward again first")
            return  # nothing to reduce: the last forward ran in no_sync() or without a graph
        self._counts[key] += 1
        if self._counts[key] > self._expected[key]:
            self._reset()
            raise RuntimeError(
                "DistributedDataParallel: a parameter received more gradients than the graph of the last forward "
                "leads to (was it used outside the DDP module's forward, or was backward run twice?); its bucket "
                "was already reduced")
        if self._counts[key] < self._expected[key]:
            return
        self._bucket_of[key].pending -= 1
        self._launch_ready_buckets()

    def _launch_ready_buckets(self):
        buckets = self._buckets
        for b in buckets[:self._next_bucket]:
            b.work.is_completed()  # lets MPI progress the reductions already started
        while self._next_bucket < len(buckets) and buckets[self._next_bucket].pending == 0:
            b = buckets[self._next_bucket]
            for i, (p, lo, hi) in enumerate(zip(b.params, b.offsets, b.offsets[1:])):
                b.buffer[lo:hi] = 0 if p.grad is None else p.grad.array.reshape(-1)
                b.buffer[b.offsets[-1] + i] = p.grad is not None
            b.work = self._group.iall_reduce(b.buffer, "avg")
            self._next_bucket += 1
        if self._next_bucket == len(buckets):
            self._finish()

    def _finish(self):
        for b in self._buckets:
            b.work.wait()
            flags = b.buffer[b.offsets[-1]:].tolist()
            for p, lo, hi, flag in zip(b.params, b.offsets, b.offsets[1:], flags):
                if flag == 0:
                    continue  # no rank has a gradient for it: stays None
                reduced = b.buffer[lo:hi].reshape(p.array.shape)
                if p.grad is None:
                    p.grad = Tensor._wrap(reduced.copy())
                else:
                    p.grad.array[...] = reduced
        self._reset()
        self._reduced = True

    def extra_repr(self):
        sizes = ", ".join(str(b.offsets[-1]) for b in self._buckets)
        return f"world_size={self._group.world_size}, buckets=[{sizes}] elements"


def _tensors_in(outputs):
    """The tensors in a forward's result (a tensor, or nested tuples, lists and dicts of them)."""
    stack = [outputs]
    while stack:
        x = stack.pop()
        if isinstance(x, Tensor):
            yield x
        elif isinstance(x, (list, tuple)):
            stack.extend(x)
        elif isinstance(x, dict):
            stack.extend(x.values())
