"""Shape and indexing ops: reshape, permute, expand, cat, stack, indexing
(get and set), tril/triu. Views (reshape, permute, expand, basic indexing)
share the input's version counter, set by the Tensor methods that call them."""
from nerve.autograd import Function
from nerve import backend
from nerve.ops.elementwise import unbroadcast


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, g):
        inverse = [0] * len(ctx.dims)
        for i, d in enumerate(ctx.dims):
            inverse[d] = i
        return g.transpose(inverse), None


class Expand(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return backend.of(x).xp.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, g):
        return unbroadcast(g, ctx.shape), None


class Cat(Function):
    """cat(dim, *arrays): backward slices the gradient back apart."""

    @staticmethod
    def forward(ctx, dim, *xs):
        ctx.info = (dim, [x.shape[dim] for x in xs])
        return backend.of(xs[0]).xp.concatenate(xs, axis=dim)

    @staticmethod
    def backward(ctx, g):
        dim, sizes = ctx.info
        grads, start = [], 0
        for n in sizes:
            index = [slice(None)] * g.ndim
            index[dim] = slice(start, start + n)
            grads.append(g[tuple(index)])
            start += n
        return (None, *grads)


class Stack(Function):
    @staticmethod
    def forward(ctx, dim, *xs):
        ctx.dim = dim
        return backend.of(xs[0]).xp.stack(xs, axis=dim)

    @staticmethod
    def backward(ctx, g):
        xp = backend.of(g).xp
        return (None, *(xp.take(g, i, axis=ctx.dim) for i in range(g.shape[ctx.dim])))


def is_basic_index(index):
    """True when numpy indexing with `index` returns a view (ints, slices, None, Ellipsis)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) and not isinstance(i, bool) for i in items)


class GetItem(Function):
    """x[index]; the gradient is scattered back with add.at, so repeated
    integer indices accumulate."""

    @staticmethod
    def forward(ctx, x, index):
        ctx.info = (x.shape, x.dtype, index)
        if is_basic_index(index):
            items = index if isinstance(index, tuple) else (index,)
            if Ellipsis not in items:  # x[1] of a 1-D x would be a scalar copy; x[1, ...] is a 0-d view
                return x[items + (Ellipsis,)]
        return x[index]

    @staticmethod
    def backward(ctx, g):
        shape, dtype, index = ctx.info
        xp = backend.of(g).xp
        gx = xp.zeros(shape, dtype=g.dtype)
        if is_basic_index(index):
            gx[index] = g
        else:
            xp.add.at(gx, index, g)
        return gx, None


class SetItem(Function):
    """out = x with out[index] = value; gradients to both."""

    @staticmethod
    def forward(ctx, x, value, index):
        ctx.info = (index, value.shape)
        out = x.copy()
        out[index] = value
        return out

    @staticmethod
    def backward(ctx, g):
        index, vshape = ctx.info
        gx = g.copy()
        gx[index] = 0
        gv = unbroadcast(g[index], vshape) if ctx.needs_input_grad[1] else None
        return gx, gv, None


class Tri(Function):
    """tril (upper=False) or triu (upper=True) over the last two dims."""

    @staticmethod
    def forward(ctx, x, diagonal, upper):
        xp = backend.of(x).xp
        ctx.info = (diagonal, upper)
        return xp.triu(x, diagonal) if upper else xp.tril(x, diagonal)

    @staticmethod
    def backward(ctx, g):
        diagonal, upper = ctx.info
        xp = backend.of(g).xp
        return (xp.triu(g, diagonal) if upper else xp.tril(g, diagonal)), None, None


class Flip(Function):
    """flip over dims (a copy, as in PyTorch); the gradient flips back."""

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return backend.of(x).xp.flip(x, dims).copy()

    @staticmethod
    def backward(ctx, g):
        return backend.of(g).xp.flip(g, ctx.dims), None


class Roll(Function):
    """roll by shifts along dims (None: over the flattened array); the gradient rolls back."""

    @staticmethod
    def forward(ctx, x, shifts, dims):
        ctx.info = (shifts, dims)
        return backend.of(x).xp.roll(x, shifts, axis=dims)

    @staticmethod
    def backward(ctx, g):
        shifts, dims = ctx.info
        back = -shifts if isinstance(shifts, int) else tuple(-s for s in shifts)
        return backend.of(g).xp.roll(g, back, axis=dims), None, None


def _scatter_grid(index, dim):
    """The index tuple that addresses out[..., index[i], ...] along dim for every position i of index."""
    grid = list(backend.of(index).xp.indices(index.shape, sparse=True))
    grid[dim] = index
    return tuple(grid)


def _leading(index, shape):
    """Slices taking the leading index.shape block of an array of `shape` (index may be smaller)."""
    return tuple(slice(0, n) for n in index.shape) + (slice(None),) * (len(shape) - index.ndim)


class Gather(Function):
    """out[i][j][k] = x[i][index[i][j][k]][k] (dim=1); the gradient scatters back, adding repeats."""

    @staticmethod
    def forward(ctx, x, index, dim):
        ctx.info = (x.shape, index, dim)
        return x[_scatter_grid(index, dim)]

    @staticmethod
    def backward(ctx, g):
        shape, index, dim = ctx.info
        xp = backend.of(g).xp
        gx = xp.zeros(shape, dtype=g.dtype)
        xp.add.at(gx, _scatter_grid(index, dim), g)
        return gx, None, None


class Scatter(Function):
    """out = x with out[i][index[i][j]] = src[i][j] (dim=1; src may be larger than index: its leading
    block is used). ``add``: accumulate instead (scatter_add). Gradients: x's flows where nothing was
    written (everywhere for add), src's is gathered from the written places."""

    @staticmethod
    def forward(ctx, x, src, index, dim, add):
        xp = backend.of(x).xp
        grid = _scatter_grid(index, dim)
        ctx.info = (src.shape, index, dim, add)
        out = x.copy()
        values = xp.broadcast_to(src, index.shape) if src.ndim == 0 else src[_leading(index, src.shape)]
        if add:
            xp.add.at(out, grid, values)
        else:
            out[grid] = values
        return out

    @staticmethod
    def backward(ctx, g):
        shape, index, dim, add = ctx.info
        xp = backend.of(g).xp
        grid = _scatter_grid(index, dim)
        gx = gsrc = None
        if ctx.needs_input_grad[0]:
            gx = g
            if not add:
                gx = g.copy()
                gx[grid] = 0
        if ctx.needs_input_grad[1]:
            gsrc = xp.zeros(shape, dtype=g.dtype)
            if len(shape) == 0:
                gsrc = g[grid].sum().astype(g.dtype)
            else:
                gsrc[_leading(index, shape)] = g[grid]
        return gx, gsrc, None, None, None
