"""Network layers for the TinyNet exercises (numpy only).

This is the trusted ``layers`` module the course hands out.  The grader always
puts this exact file next to a submission, so a student's own copy is ignored.

Every layer has ``forward(x)`` and ``backward(dout)``.  ``forward`` remembers
what ``backward`` needs; ``backward`` takes the gradient of the loss with
respect to the layer's output and returns the gradient with respect to its
input.  Layers with parameters also store the parameter gradients in ``dW``
and ``db`` (same shapes as ``W`` and ``b``).

Shapes follow the usual NCHW convention: a batch of images is
``(N, C, H, W)``.

    Convolution(W, b, stride=1, pad=0)   W (FN, C, FH, FW), b (FN,)
    MaxPool(pool_h, pool_w, stride=1, pad=0)
    FullyConnected(W, b)                 W (D, M), b (M,); flattens its input
    Relu()
    SoftmaxWithLoss()                    forward(x, t) -> mean cross-entropy

Output sizes of Convolution and MaxPool count the padding:

    out_h = (H + 2*pad - FH) // stride + 1
    out_w = (W + 2*pad - FW) // stride + 1

Shape mistakes raise ``ValueError`` with a message that names the layer and
the shapes involved, e.g.
``FullyConnected expects 48 input features per sample, got 12``.
"""

import numpy as np


# ---------------------------------------------------------------------------
# im2col / col2im
# ---------------------------------------------------------------------------

def _output_size(size, field, stride, pad):
    """Number of window positions along one axis (padding counted)."""
    return (size + 2 * pad - field) // stride + 1


def im2col(x, field_h, field_w, stride=1, pad=0, pad_value=0.0):
    """Unfold every (field_h, field_w) window of x into one row.

    x: (N, C, H, W).  Returns col of shape (N*out_h*out_w, C*field_h*field_w);
    row (n, i, j) (in that order) holds the window whose top-left corner is at
    (i*stride, j*stride) of the padded image, flattened in (C, fh, fw) order,
    which is the order of W.reshape(FN, -1).
    """
    N, C, H, W = x.shape
    out_h = _output_size(H, field_h, stride, pad)
    out_w = _output_size(W, field_w, stride, pad)

    img = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)],
                 mode="constant", constant_values=pad_value)
    col = np.empty((N, C, field_h, field_w, out_h, out_w), dtype=img.dtype)
    # One slice per offset inside the window: (fh*fw) numpy operations in
    # total, independent of the image size.
    for dy in range(field_h):
        y_max = dy + stride * out_h
        for dx in range(field_w):
            x_max = dx + stride * out_w
            col[:, :, dy, dx, :, :] = img[:, :, dy:y_max:stride, dx:x_max:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * out_h * out_w, -1)


def col2im(col, input_shape, field_h, field_w, stride=1, pad=0):
    """Adjoint of im2col: scatter-add the rows of col back into an image.

    Overlapping windows add up, and whatever falls on the padding is dropped,
    so col2im(dcol) is the gradient with respect to im2col's input.
    """
    N, C, H, W = input_shape
    out_h = _output_size(H, field_h, stride, pad)
    out_w = _output_size(W, field_w, stride, pad)
    col = col.reshape(N, out_h, out_w, C, field_h, field_w).transpose(0, 3, 4, 5, 1, 2)

    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1),
                   dtype=col.dtype)
    for dy in range(field_h):
        y_max = dy + stride * out_h
        for dx in range(field_w):
            x_max = dx + stride * out_w
            img[:, :, dy:y_max:stride, dx:x_max:stride] += col[:, :, dy, dx, :, :]
    return img[:, :, pad:H + pad, pad:W + pad]


def _check_window(layer, x, field_h, field_w, stride, pad):
    """Validate a 4-D input for a windowed layer; return (out_h, out_w)."""
    if x.ndim != 4:
        raise ValueError(
            f"{layer} expects a 4-D input (N, C, H, W), got shape {x.shape}")
    _, _, H, W = x.shape
    out_h = _output_size(H, field_h, stride, pad)
    out_w = _output_size(W, field_w, stride, pad)
    if out_h <= 0 or out_w <= 0:
        raise ValueError(
            f"{layer} window {field_h}x{field_w} (stride {stride}, pad {pad}) "
            f"does not fit an input of size {H}x{W}: the output would be "
            f"{out_h}x{out_w}")
    return out_h, out_w


def _check_dout(layer, dout, expected_shape):
    """backward() must receive a gradient shaped like forward()'s output."""
    if dout.shape != tuple(expected_shape):
        raise ValueError(
            f"{layer}.backward expects dout of shape {tuple(expected_shape)} "
            f"(the shape of its forward output), got {dout.shape}")


# ---------------------------------------------------------------------------
# Layers
# ---------------------------------------------------------------------------

class Convolution:
    """2-D convolution (cross-correlation, as in every deep-learning library).

    W: (FN, C, FH, FW) filters, b: (FN,) biases.
    forward: (N, C, H, W) -> (N, FN, out_h, out_w), zero padding.
    """

    def __init__(self, W, b, stride=1, pad=0):
        self.W = W
        self.b = b
        self.stride = stride
        self.pad = pad
        # kept by forward for backward
        self.x_shape = None
        self.col = None
        self.col_W = None
        self.out_shape = None
        # parameter gradients
        self.dW = None
        self.db = None

    def forward(self, x):
        x = np.asarray(x)
        FN, C, FH, FW = self.W.shape
        out_h, out_w = _check_window("Convolution", x, FH, FW, self.stride, self.pad)
        if x.shape[1] != C:
            raise ValueError(
                f"Convolution expects {C} input channels (W has shape "
                f"{self.W.shape}), got an input of shape {x.shape}")
        N = x.shape[0]

        col = im2col(x, FH, FW, self.stride, self.pad)   # (N*oh*ow, C*FH*FW)
        col_W = self.W.reshape(FN, -1).T                 # (C*FH*FW, FN)
        out = col @ col_W + np.reshape(self.b, (1, FN))  # (N*oh*ow, FN)
        out = out.reshape(N, out_h, out_w, FN).transpose(0, 3, 1, 2)

        self.x_shape = x.shape
        self.col = col
        self.col_W = col_W
        self.out_shape = out.shape
        return out

    def backward(self, dout):
        dout = np.asarray(dout)
        _check_dout("Convolution", dout, self.out_shape)
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)  # (N*oh*ow, FN)

        self.db = dout.sum(axis=0).reshape(np.shape(self.b))
        self.dW = (self.col.T @ dout).T.reshape(FN, C, FH, FW)

        dcol = dout @ self.col_W.T                           # (N*oh*ow, C*FH*FW)
        return col2im(dcol, self.x_shape, FH, FW, self.stride, self.pad)


class MaxPool:
    """Max pooling over (pool_h, pool_w) windows, per channel.

    The output size counts the padding (formula in the module docstring).
    Padding is filled with -inf, so a padded cell is never the maximum and
    receives no gradient: padding only lets windows hang over the border.
    ``pad`` must be smaller than the window, so that every window contains at
    least one real input cell.  Among equal values the first in the window
    (row-major) is taken as the maximum and receives the gradient.
    """

    def __init__(self, pool_h, pool_w, stride=1, pad=0):
        if pad < 0 or pad >= pool_h or pad >= pool_w:
            raise ValueError(
                f"MaxPool padding must be smaller than the window "
                f"({pool_h}x{pool_w}), got pad={pad}")
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.x_shape = None
        self.arg_max = None
        self.out_shape = None

    def forward(self, x):
        x = np.asarray(x)
        out_h, out_w = _check_window("MaxPool", x, self.pool_h, self.pool_w,
                                     self.stride, self.pad)
        N, C, _, _ = x.shape
        # Float input so that -inf padding is representable.
        x = x.astype(np.result_type(x.dtype, np.float64), copy=False)
        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad,
                     pad_value=-np.inf)
        # (N*oh*ow, C*ph*pw) -> one row per (n, i, j, c) window
        col = col.reshape(-1, self.pool_h * self.pool_w)

        arg_max = np.argmax(col, axis=1)
        out = col[np.arange(col.shape[0]), arg_max]
        out = out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)

        self.x_shape = x.shape
        self.arg_max = arg_max
        self.out_shape = out.shape
        return out

    def backward(self, dout):
        dout = np.asarray(dout)
        _check_dout("MaxPool", dout, self.out_shape)
        dout = dout.transpose(0, 2, 3, 1).ravel()           # (n, i, j, c) order
        size = self.pool_h * self.pool_w
        dmax = np.zeros((dout.size, size), dtype=dout.dtype)
        dmax[np.arange(dout.size), self.arg_max] = dout     # route to the max
        N, C, _, _ = self.x_shape
        dcol = dmax.reshape(-1, C * size)                   # (N*oh*ow, C*ph*pw)
        return col2im(dcol, self.x_shape, self.pool_h, self.pool_w,
                      self.stride, self.pad)


class FullyConnected:
    """Affine layer out = x2 @ W + b, where x2 = x.reshape(N, -1).

    W: (D, M), b: (M,).  Any input (N, ...) with D features per sample is
    accepted; backward returns dx in the input's original shape.
    """

    def __init__(self, W, b):
        self.W = W
        self.b = b
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def forward(self, x):
        x = np.asarray(x)
        if x.ndim < 1:
            raise ValueError("FullyConnected expects a batch (N, ...), got a scalar")
        D, M = self.W.shape
        self.original_x_shape = x.shape
        x2 = x.reshape(x.shape[0], -1)
        if x2.shape[1] != D:
            raise ValueError(
                f"FullyConnected expects {D} input features per sample, got "
                f"{x2.shape[1]} (input of shape {x.shape})")
        self.x = x2
        return x2 @ self.W + np.reshape(self.b, (1, M))

    def backward(self, dout):
        dout = np.asarray(dout)
        _check_dout("FullyConnected", dout, (self.x.shape[0], self.W.shape[1]))
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0).reshape(np.shape(self.b))
        dx = dout @ self.W.T
        return dx.reshape(self.original_x_shape)


class Relu:
    """ReLU: out = x where x > 0, else 0.  The mask is x <= 0, so the
    gradient at exactly 0 is 0."""

    def __init__(self):
        self.mask = None

    def forward(self, x):
        x = np.asarray(x)
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout = np.asarray(dout)
        _check_dout("Relu", dout, self.mask.shape)
        dx = dout.copy()
        dx[self.mask] = 0
        return dx


def softmax(x):
    """Row-wise softmax of (N, C) scores, stable for any magnitude."""
    z = x - np.max(x, axis=1, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=1, keepdims=True)


def log_softmax(x):
    """Row-wise log(softmax(x)) without overflow or log(0)."""
    z = x - np.max(x, axis=1, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))


class SoftmaxWithLoss:
    """Softmax followed by the cross-entropy loss, averaged over the batch.

    forward(x, t): x (N, C) scores; t either one-hot / probability rows
    (N, C) or integer labels (N,).  Returns the scalar
        loss = -(1/N) * sum_n sum_c t[n, c] * log softmax(x)[n, c].
    backward(dout=1) returns dout * (softmax(x) - t) / N, the gradient of
    that mean with respect to x.
    """

    def __init__(self):
        self.y = None   # softmax output
        self.t = None   # targets as (N, C) rows
        self.loss = None

    def forward(self, x, t):
        x = np.asarray(x)
        t = np.asarray(t)
        if x.ndim != 2:
            raise ValueError(
                f"SoftmaxWithLoss expects scores of shape (N, C), got {x.shape}")
        N, C = x.shape
        if t.shape == (N,):
            if not np.issubdtype(t.dtype, np.integer):
                if not np.all(t == np.round(t)):
                    raise ValueError("SoftmaxWithLoss: labels of shape (N,) must be integers")
                t = t.astype(np.int64)
            if np.any(t < 0) or np.any(t >= C):
                raise ValueError(f"SoftmaxWithLoss: labels must lie in [0, {C}), got {t}")
            onehot = np.zeros((N, C), dtype=x.dtype if x.dtype.kind == "f" else np.float64)
            onehot[np.arange(N), t] = 1
            t = onehot
        elif t.shape != (N, C):
            raise ValueError(
                f"SoftmaxWithLoss expects targets of shape ({N},) or ({N}, {C}) "
                f"for scores of shape {x.shape}, got {t.shape}")

        logp = log_softmax(x)
        self.y = np.exp(logp)
        self.t = t
        self.loss = -np.sum(t * logp) / N
        return self.loss

    def backward(self, dout=1):
        N = self.y.shape[0]
        return dout * (self.y - self.t) / N
