"""Packed sequences, PyTorch's layout, mapped onto the fused RNN kernels' ``lengths``.

A PackedSequence holds ``data`` (sum(lengths), *): time step 0 of every
sequence (longest first), then step 1 of those still running, ...;
``batch_sizes`` (T,) int64 counts the sequences at each step;
``sorted_indices`` (or None when the batch was already sorted) lists the
original batch index of each sorted position and ``unsorted_indices`` is its
inverse. nn.RNN/LSTM/GRU take one: they unpack it to a padded (T, B, *)
batch in the original order plus lengths, run their whole-sequence kernels
with those lengths (steps past a sequence's end output zeros and keep its
state, so h_n is each sequence's state after its own last step, in the
original batch order, as PyTorch returns it), and pack the output the same
way. Packing and unpacking are index gathers, differentiable.
"""
from collections import namedtuple

import numpy as np

from nerve.nn import functional as F
from nerve.tensor import Tensor, cat, full, stack, tensor

__all__ = ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence", "pack_sequence",
           "unpack_sequence", "unpad_sequence", "invert_permutation"]


def invert_permutation(permutation):
    if permutation is None:
        return None
    p = np.asarray(permutation.tolist() if isinstance(permutation, Tensor) else permutation, dtype=np.int64)
    inverse = np.empty_like(p)
    inverse[p] = np.arange(p.size)
    return tensor(inverse)


class PackedSequence(namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        return self._replace(data=self.data.to(*args, **kwargs))

    def cpu(self):
        return self.to("cpu")

    def cuda(self, *args, **kwargs):
        return self.to("cuda")

    @property
    def is_cuda(self):
        return self.data.device.type == "cuda"

    def is_pinned(self):
        return False


def _ints(values, name):
    a = np.asarray(values.tolist() if isinstance(values, Tensor) else values)
    if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
        raise ValueError(f"{name} expected a 1-D sequence of integers, got {a.dtype} of shape {a.shape}")
    return a.astype(np.int64)


def _rows(lengths, order, B):
    """Flat (t * B + b) indices of a padded (T, B) batch in packed order, and batch_sizes."""
    sorted_lengths = lengths[order]
    T = int(sorted_lengths[0]) if B else 0
    batch_sizes = np.array([(sorted_lengths > t).sum() for t in range(T)], dtype=np.int64)
    rows = np.concatenate([t * B + order[:n] for t, n in enumerate(batch_sizes)]) if T else np.zeros(0, np.int64)
    return rows, batch_sizes


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch input (T, B, *) ((B, T, *) if batch_first) of sequences of the given lengths."""
    lengths = _ints(lengths, "pack_padded_sequence: lengths")
    x = input.transpose(0, 1) if batch_first else input
    T, B = x.shape[0], x.shape[1]
    if lengths.shape != (B,):
        raise ValueError(f"pack_padded_sequence: expected {B} lengths (the batch size), got {lengths.size}")
    if B and lengths.min() <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' "
                           "that is <= 0")
    if B and lengths.max() > T:
        raise RuntimeError(f"pack_padded_sequence: a length ({lengths.max()}) exceeds the padded length {T}")
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
                               "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to "
                               "sidestep this requirement if you do not need ONNX exportability.")
        order, sorted_indices = np.arange(B), None
    else:
        order = np.argsort(-lengths, kind="stable")
        sorted_indices = tensor(order)
    rows, batch_sizes = _rows(lengths, order, B)
    data = x.reshape(T * B, *x.shape[2:])[rows]
    return PackedSequence(data, tensor(batch_sizes), sorted_indices)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The inverse of pack_padded_sequence: (padded (T, B, *) or (B, T, *), lengths int64 (B,)),
    in the original batch order; T = the longest length, or total_length."""
    data = sequence.data
    batch_sizes = _ints(sequence.batch_sizes, "pad_packed_sequence: batch_sizes")
    T = len(batch_sizes)
    B = int(batch_sizes[0]) if T else 0
    if total_length is not None:
        if total_length < T:
            raise ValueError(f"Expected total_length to be at least the length of the longest sequence ({T}), got "
                             f"total_length={total_length}")
        T_out = int(total_length)
    else:
        T_out = T
    sorted_lengths = np.array([(batch_sizes > j).sum() for j in range(B)], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(batch_sizes)[:-1]]).astype(np.int64)
    index = np.full((T_out, B), data.shape[0], dtype=np.int64)  # data.shape[0]: the padding row
    for t, n in enumerate(batch_sizes):
        index[t, :n] = offsets[t] + np.arange(n)
    lengths = sorted_lengths
    if sequence.unsorted_indices is not None:
        unsorted = _ints(sequence.unsorted_indices, "pad_packed_sequence: unsorted_indices")
        index, lengths = index[:, unsorted], sorted_lengths[unsorted]
    rest = tuple(data.shape[1:])
    pad_row = full((1,) + rest, padding_value, dtype=data.dtype, device=data.device)
    padded = cat([data, pad_row])[index.reshape(-1)].reshape(T_out, B, *rest)
    return (padded.transpose(0, 1) if batch_first else padded), tensor(lengths)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors (L_i, *) into (max L, B, *) ((B, max L, *) if batch_first), padding each one."""
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side expected 'right' or 'left', got {padding_side!r}")
    sequences = list(sequences)
    if not sequences:
        raise ValueError("pad_sequence: received an empty list of sequences")
    L = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        extra = L - s.shape[0]
        if extra:
            before, after = (0, extra) if padding_side == "right" else (extra, 0)
            s = F.pad(s, (0, 0) * (s.ndim - 1) + (before, after), value=padding_value)
        padded.append(s)
    return stack(padded, dim=0 if batch_first else 1)


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of tensors (L_i, *) (longest first unless enforce_sorted=False)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of each sequence's first lengths[i] steps."""
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [x[i, :n] for i, n in enumerate(_ints(lengths, "unpad_sequence: lengths").tolist())]


def unpack_sequence(packed_sequences):
    """The list of the packed tensors (L_i, *), in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


def packed_rows(lengths, sorted_indices, T, B):
    """The flat (t * B + b) rows of a padded (T, B) batch in a PackedSequence's order (for the RNNs)."""
    order = np.arange(B) if sorted_indices is None else _ints(sorted_indices, "sorted_indices")
    return _rows(_ints(lengths, "lengths"), order, B)[0]
