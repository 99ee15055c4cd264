"""DataLoader: batches of a map-style dataset, optionally shuffled by nerve's
seeded generator and loaded by worker processes.

With ``num_workers > 0`` each epoch starts ``num_workers`` processes
(multiprocessing, the default start method: fork on Linux). The main process
draws a base seed from the shuffling generator once per epoch and worker
``k`` seeds nerve's generator, numpy's legacy global generator and Python's
``random`` with ``base_seed + k`` before ``worker_init_fn(k)`` runs, so random
augmentations differ across workers and across epochs, and repeat when the
run is repeated with the same ``nerve.manual_seed``. Batch ``i`` goes to
worker ``i % num_workers``; batches come back in order.
"""
import collections.abc
import multiprocessing
import numbers
import queue
import random
import traceback

import numpy as np

from nerve import random as _random
from nerve.data.dataset import TensorDataset
from nerve.tensor import Tensor, from_numpy, stack, tensor

__all__ = ["DataLoader", "default_collate", "get_worker_info", "WorkerInfo"]


def default_collate(batch):
    """Stack a list of samples: tensors and arrays into a Tensor with a new
    first dimension, numbers into a 1-D Tensor (int64 / float64 / bool;
    numpy scalars keep their dtype),
    strings into a list, and dicts, tuples and lists element by element."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(batch)
    if isinstance(elem, np.ndarray):
        return from_numpy(np.stack(batch))
    if isinstance(elem, np.generic):  # numpy scalars keep their dtype
        return from_numpy(np.array(batch))
    if isinstance(elem, bool):
        return tensor(batch, dtype="bool")
    if isinstance(elem, numbers.Integral):
        return tensor(batch, dtype="int64")
    if isinstance(elem, numbers.Real):
        return tensor(batch, dtype="float64")
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, (tuple, list)):
        if any(len(s) != len(elem) for s in batch):
            raise RuntimeError("default_collate: each element in list of batch should be of equal size")
        columns = [default_collate(list(s)) for s in zip(*batch)]
        return tuple(columns) if isinstance(elem, tuple) else columns
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, strings, dicts or "
                    f"lists; found {type(elem).__name__}")


class WorkerInfo:
    def __init__(self, id, num_workers, seed, dataset):  # noqa: A002 (PyTorch's name)
        self.id, self.num_workers, self.seed, self.dataset = id, num_workers, seed, dataset

    def __repr__(self):
        return f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed})"


_worker_info = None


def get_worker_info():
    """In a DataLoader worker process: its WorkerInfo (id, num_workers, seed, dataset). None elsewhere."""
    return _worker_info


def _seed_everything(seed):
    _random.manual_seed(seed)
    np.random.seed(seed % 2 ** 32)
    random.seed(seed)


def _worker_loop(dataset, fetch, index_queue, result_queue, worker_id, num_workers, seed, worker_init_fn):
    global _worker_info
    _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
    try:
        _seed_everything(seed)
        if worker_init_fn is not None:
            worker_init_fn(worker_id)
    except Exception:  # noqa: BLE001 - reported to the main process
        result_queue.put((-1, None, f"in worker_init_fn of DataLoader worker {worker_id}:\n{traceback.format_exc()}"))
        return
    while True:
        task = index_queue.get()
        if task is None:
            break
        i, indices = task
        try:
            result_queue.put((i, fetch(indices), None))
        except Exception:  # noqa: BLE001 - reported to the main process
            result_queue.put((i, None, f"in DataLoader worker {worker_id}:\n{traceback.format_exc()}"))


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size`` (None: single samples).

    The order comes from ``sampler`` (an iterable of indices), or ``batch_sampler`` (lists of indices),
    or else all indices, shuffled by ``generator`` (a nerve.Generator; default nerve's seeded one) when
    ``shuffle``. ``pin_memory``, ``pin_memory_device``, ``persistent_workers`` and ``in_order`` are accepted
    for PyTorch's sake and change nothing here (CPU arrays need no pinning; workers start each epoch, which
    gives the same batches); ``prefetch_factor`` batches per worker are kept in flight.
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True):
        if batch_size is not None and (not isinstance(batch_size, numbers.Integral) or batch_size <= 0):
            raise ValueError(f"DataLoader: batch_size should be a positive integer or None, got {batch_size!r}")
        if num_workers < 0:
            raise ValueError(f"DataLoader: num_workers should be >= 0, got {num_workers}")
        if timeout < 0:
            raise ValueError(f"DataLoader: timeout should be >= 0, got {timeout}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with batch_size, shuffle, "
                                 "sampler, and drop_last")
            batch_size = None
        if persistent_workers and num_workers == 0:
            raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
        if prefetch_factor is not None and prefetch_factor <= 0:
            raise ValueError(f"DataLoader: prefetch_factor should be a positive integer, got {prefetch_factor!r}")
        self.sampler = sampler  # iterable of indices (e.g. DistributedSampler); None: all, maybe shuffled
        self.batch_sampler = batch_sampler
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, batch_size, bool(shuffle), drop_last
        self.num_workers, self.worker_init_fn, self.generator, self.timeout = num_workers, worker_init_fn, generator, timeout
        self.collate_fn = collate_fn if collate_fn is not None else default_collate
        self.multiprocessing_context = multiprocessing_context
        self.pin_memory, self.pin_memory_device, self.in_order = pin_memory, pin_memory_device, in_order
        self.persistent_workers = persistent_workers
        self.prefetch_factor = 2 if prefetch_factor is None else int(prefetch_factor)

    def __len__(self):
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _batches(self):
        """Index lists of one epoch (drawn from the generator now)."""
        if self.batch_sampler is not None:
            return [np.asarray(list(b), dtype=np.int64) for b in self.batch_sampler]
        if self.sampler is not None:
            order = np.fromiter(iter(self.sampler), dtype=np.int64)
        elif self.shuffle:
            order = _random.numpy_generator(self.generator).permutation(len(self.dataset))
        else:
            order = np.arange(len(self.dataset))
        n = len(order)
        if self.batch_size is None:
            return [int(i) for i in order]
        stop = n - n % self.batch_size if self.drop_last else n
        return [order[i:i + self.batch_size] for i in range(0, stop, self.batch_size)]

    def _fetch(self, indices):
        if self.batch_size is None and self.batch_sampler is None:
            return self.dataset[indices]
        if isinstance(self.dataset, TensorDataset) and self.collate_fn is default_collate:
            return self.dataset.batch(indices)
        return self.collate_fn([self.dataset[int(i)] for i in indices])

    def __iter__(self):
        batches = self._batches()
        if self.num_workers == 0:
            return (self._fetch(b) for b in batches)
        gen = _random.numpy_generator(self.generator)
        return _MultiProcessIter(self, batches, int(gen.integers(2 ** 62)))


class _MultiProcessIter:
    def __init__(self, loader, batches, base_seed):
        ctx = loader.multiprocessing_context
        ctx = multiprocessing.get_context(ctx) if ctx is None or isinstance(ctx, str) else ctx
        self.batches, self.timeout = batches, loader.timeout
        self.result_queue = ctx.Queue()
        self.index_queues, self.workers = [], []
        for k in range(loader.num_workers):
            q = ctx.Queue()
            w = ctx.Process(target=_worker_loop, daemon=True,
                            args=(loader.dataset, loader._fetch, q, self.result_queue, k, loader.num_workers,
                                  base_seed + k, loader.worker_init_fn))
            w.start()
            self.index_queues.append(q)
            self.workers.append(w)
        self.sent = self.received = 0
        self.pending = {}
        self.prefetch = loader.prefetch_factor * loader.num_workers
        while self.sent < min(self.prefetch, len(batches)):
            self._send()

    def _send(self):
        i = self.sent
        self.index_queues[i % len(self.workers)].put((i, self.batches[i]))
        self.sent += 1

    def __iter__(self):
        return self

    def _get(self):
        waited = 0.0
        while True:
            try:
                return self.result_queue.get(timeout=1.0)
            except queue.Empty:
                waited += 1.0
                dead = [w for w in self.workers if not w.is_alive()]
                if dead:
                    self.shutdown()
                    raise RuntimeError(f"DataLoader worker (pid {dead[0].pid}) exited unexpectedly with exit code "
                                       f"{dead[0].exitcode}") from None
                if self.timeout and waited >= self.timeout:
                    self.shutdown()
                    raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds") from None

    def __next__(self):
        if self.received == len(self.batches):
            self.shutdown()
            raise StopIteration
        while self.received not in self.pending:
            i, data, error = self._get()
            if error is not None:
                self.shutdown()
                raise RuntimeError(f"Caught an exception {error}")
            self.pending[i] = data
        data = self.pending.pop(self.received)
        self.received += 1
        if self.sent < len(self.batches):
            self._send()
        return data

    def shutdown(self):
        for q in self.index_queues:
            try:
                q.put(None)
            except (OSError, ValueError):
                pass
        for w in self.workers:
            w.join(timeout=5)
            if w.is_alive():
                w.terminate()
                w.join()
        for q in self.index_queues + [self.result_queue]:
            q.cancel_join_thread()
            q.close()
        self.workers, self.index_queues = [], []

    def __del__(self):
        if self.workers:
            self.shutdown()
