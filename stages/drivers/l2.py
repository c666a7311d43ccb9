"""Driver for stage 10 (l2-regularization): trusted PyTorch helpers.

Everything runs on the CPU with one thread and fixed seeds, so that the
reference's process and the submission's process compute bit-for-bit the same
thing.  Weights and data are made here from integer seeds that the spec draws
as inputs (drawing 3 million weights as spec inputs would ship them to both
processes and into the report): same seed, same tensors, on both sides.

Calls in the spec pass the submission's objects in (``Net``, ``make_optimizer``,
``l2_penalty``, ``train``); mistakes pass the name of a known wrong variant, which
is computed here with trusted code on the reference's side.
"""
import functools
import inspect
import math
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

torch.set_num_threads(1)


def _warm_up():
    """Create and step each optimizer once, now, before the submission is imported.

    An optimizer's first construction and step import and set up what they use lazily
    (torch._dynamo too, about 1.5 s, where the grader's fork server has not put its
    placeholder in its place); doing it here keeps that out of the timing of the
    student's first case.
    """
    for make in (lambda ps: optim.Adam(ps, lr=0.01), lambda ps: optim.AdamW(ps, lr=0.01),
                 lambda ps: optim.SGD(ps, lr=0.01)):
        p = nn.Parameter(torch.zeros(2))
        opt = make([p])
        p.grad = torch.ones(2)
        opt.step()
        opt.zero_grad()


_warm_up()

# --- a small MNIST for scripts that build torchvision loaders at import ------------------------

# images: one batch of the seed's batch_size_train (64) for the top-level train(1) of its script, whose
# grade never depends on that epoch (train is graded on the grader's loader, below); 320 images cost
# five steps of the full-size network, about 0.2 CPU-s a run
MNIST_SIZES = {"train": 64, "t10k": 32}
MNIST_SEED = 20240610


def mnist_arrays(n, seed):
    """n MNIST-like images (uint8, n x 28 x 28) and labels: 10 blurred class shapes plus noise."""
    rng = np.random.default_rng([seed, n])
    yy, xx = np.mgrid[0:28, 0:28]
    shapes = []
    for k in range(10):
        cy, cx, r = 14 + 4 * np.sin(k), 14 + 4 * np.cos(k), 5 + (k % 4)
        ring = np.exp(-((np.hypot(yy - cy, xx - cx) - r) ** 2) / 3.0)
        shapes.append(ring * (1.0 if k % 2 else 0.8))
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = np.stack([shapes[k] for k in labels]) + rng.normal(0.0, 0.08, (n, 28, 28))
    return (np.clip(images, 0.0, 1.0) * 255).astype(np.uint8), labels


def idx_bytes(array):
    """An idx file of unsigned bytes: 0, 0, 0x08, ndim, the dims big-endian, then the data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_mnist(root="data"):
    """<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte, where torchvision looks for them."""
    import os

    raw = os.path.join(root, "MNIST", "raw")
    os.makedirs(raw, exist_ok=True)
    for part, n in MNIST_SIZES.items():
        images, labels = mnist_arrays(n, MNIST_SEED + (part == "t10k"))
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            with open(os.path.join(raw, f"{part}-{kind}-ubyte"), "wb") as fh:
                fh.write(idx_bytes(array))


def keep_freed_memory():
    """Let glibc's malloc keep freed blocks of up to 32 MB for reuse instead of unmapping them.

    Every case builds a full-size Net (12 MB of parameters in 2 MB blocks) and frees it; by
    default each block is mmap'ed afresh and its 3000 pages faulted in again, about half of a
    forward case's CPU. Values are unchanged; only where the memory comes from differs.
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc: the default allocation, slower, same results
        return
    mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: blocks under 32 MB from the heap
    mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD: up to 64 MB of freed heap kept, not returned


PLATFORM_MNIST = "/data/workspace/myshixun/data"  # stages/platform/'s copy, seen by every run


def provide_mnist(root="data", platform=PLATFORM_MNIST):
    """write_mnist(root): copied from the platform's folder where it is there (the same bytes,
    tests/stages/test_10_seed_style.py checks it; copying is cheaper than drawing), else drawn."""
    import os
    import shutil

    source = os.path.join(platform, "MNIST", "raw")
    names = [f"{part}-{kind}-ubyte" for part in MNIST_SIZES for kind in ("images-idx3", "labels-idx1")]
    if not all(os.path.isfile(os.path.join(source, name)) for name in names):
        return write_mnist(root)
    raw = os.path.join(root, "MNIST", "raw")
    os.makedirs(raw, exist_ok=True)
    for name in names:
        shutil.copyfile(os.path.join(source, name), os.path.join(raw, name))


if globals().get("__file__") == "driver.py":  # inside a run (cwd = its working copy), not in the grader
    keep_freed_memory()
    provide_mnist()

ARCH = (784, 700, 700, 700, 700, 700, 700, 10)
MINI = (20, 16, 16, 16, 16, 16, 16, 10)  # same layout as Net (fc1 ... fc7), small
# The network handed to the student's train(): Net's layout on MNIST-sized images, narrower.
# A training loop's mistakes show the same on it, and an epoch costs 1/40 of Net's.
TRAIN_ARCH = (784, 64, 64, 64, 64, 64, 64, 10)
BATCHES = 4
BATCH_SIZE = 16
TRAIN_LR = 1e-3  # the trusted optimizer handed to train(): small enough that the loss falls
SAMPLE = 200  # entries per parameter tensor in a fingerprint


class TrustedNet(nn.Module):
    """fc1 ... fc7 with ReLU between and log_softmax at the end, of any widths."""

    def __init__(self, widths=ARCH):
        super().__init__()
        self.widths = tuple(widths)
        for i in range(len(widths) - 1):
            setattr(self, f"fc{i + 1}", nn.Linear(widths[i], widths[i + 1]))

    def forward(self, x, variant=None):
        n = len(self.widths) - 1
        x = x.view(-1, self.widths[0])
        for i in range(1, n):
            x = F.relu(getattr(self, f"fc{i}")(x))
        x = getattr(self, f"fc{n}")(x)
        if variant == "logits":
            return x
        if variant == "softmax":
            return F.softmax(x, dim=1)
        if variant == "log-softmax-dim0":
            return F.log_softmax(x, dim=0)
        return F.log_softmax(x, dim=1)


def _seed(seed):
    # the CPU generator only: torch.manual_seed also queues a CUDA seed with the caller's
    # formatted stack (about 0.2 ms a call), for a device these CPU-only runs never use
    torch.default_generator.manual_seed(int(seed) % (2 ** 63))


def expected_shapes(widths=ARCH):
    shapes = []
    for i in range(len(widths) - 1):
        shapes += [[widths[i + 1], widths[i]], [widths[i + 1]]]
    return shapes


def weights(wseed, widths=ARCH):
    """The parameters' draws in parameter order (W1, b1, ..., W7, b7): (levels, scale) each.

    A parameter is (levels + 0.5) * scale in float32 (load makes it): one random signed byte
    per entry, so weights are uniform in +-sqrt(3/fan_in) (unit variance through the layers)
    and biases in +-0.01, on a grid of 256 levels. Net's 3 million weights cost about 1.5 ms to
    draw so, rather than 15 as float64 uniforms, and need no float copy of their own.
    """
    shapes, bounds = [], []
    for out_dim, in_dim in zip(widths[1:], widths[:-1]):
        shapes += [(out_dim, in_dim), (out_dim,)]
        bounds += [math.sqrt(3.0 / in_dim), 0.01]
    levels = signed_bytes(np.random.default_rng([int(wseed), 10]), shapes)
    return [(lv, bound / 128) for lv, bound in zip(levels, bounds)]


def signed_bytes(rng, shapes):
    """[rng.integers(-128, 128, shape, dtype=np.int8) for shape in shapes], the same bytes, in half the time.

    For int8's whole range numpy takes each array's bytes from its own ceil(n / 4) 32-bit draws,
    low byte first, and a 32-bit draw is one half of a 64-bit output, low half first: so the
    arrays are consecutive slices of the raw 64-bit stream's bytes (tests/stages/test_10_seed_style.py
    checks it against rng.integers), with 128 subtracted (the top bit flipped).
    """
    if sys.byteorder != "little":  # the views below read the stream's words little-endian
        return [rng.integers(-128, 128, shape, dtype=np.int8) for shape in shapes]
    words = [(math.prod(shape) + 3) // 4 for shape in shapes]
    stream = rng.bit_generator.random_raw((sum(words) + 1) // 2).view(np.uint32)
    out, start = [], 0
    for shape, n in zip(shapes, words):
        chunk = stream[start:start + n].view(np.uint8)[:math.prod(shape)]
        out.append((chunk ^ np.uint8(0x80)).view(np.int8).reshape(shape))
        start += n
    return out


def load(net, draws):
    """Make net's parameters the draws of weights(), matched by parameter order."""
    params = list(net.named_parameters())
    if len(params) != len(draws):
        raise ValueError(
            f"Net has {len(params)} parameter tensors, expected {len(draws)} "
            "(fc1 ... fc7: a weight and a bias each)")
    with torch.no_grad():
        for i, ((name, p), (levels, scale)) in enumerate(zip(params, draws)):
            if tuple(p.shape) != levels.shape:
                raise ValueError(
                    f"Net's parameter {i} ({name}) has shape {tuple(p.shape)}, expected {levels.shape}: "
                    "define fc1 ... fc7 in order, with the layer sizes the exercise gives")
            value = p if p.dtype == torch.float32 else torch.empty(levels.shape)  # float32 values either way
            value.copy_(torch.from_numpy(levels))
            value.add_(0.5).mul_(scale)
            if value is not p:
                p.copy_(value)
    return net


def _as_numpy(t):
    return t.detach().to(torch.float64).cpu().numpy()


# --- Net ---------------------------------------------------------------------

def uninitialised(Net):
    """Net(), its nn.Linear layers left as allocated (not initialised).

    Every case that runs Net overwrites all its parameters with load() (which checks their
    number and shapes), and param_shapes reads shapes only: the kaiming initialisation of
    3 million weights (about 12 ms a construction) would buy nothing.
    """
    _seed(0)
    reset = nn.Linear.reset_parameters
    nn.Linear.reset_parameters = lambda self: None
    try:
        return Net()
    finally:
        nn.Linear.reset_parameters = reset


def param_shapes(Net):
    """The shapes of Net()'s parameters, in parameter order."""
    return [list(p.shape) for p in uninitialised(Net).parameters()]


def forward(Net, x, wseed):
    """Net() with the weights of wseed, applied to x (B, 1, 28, 28): (B, 10) log-probabilities."""
    net = load(uninitialised(Net), weights(wseed))
    net.eval()
    with torch.no_grad():
        out = net(torch.from_numpy(np.asarray(x, dtype=np.float32)))
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"Net.forward returned {type(out).__name__}, expected a tensor")
    return _as_numpy(out)


def forward_variant(x, wseed, variant):
    """A known wrong forward pass, computed with the trusted net (for mistakes)."""
    net = load(uninitialised(TrustedNet), weights(wseed))
    with torch.no_grad():
        return _as_numpy(net(torch.from_numpy(np.asarray(x, dtype=np.float32)), variant))


# --- make_optimizer ------------------------------------------------------------

OPTIMIZER_STEPS = 5


def _small_model(oseed):
    # every parameter is drawn below: nn.Linear's own initialisation would buy nothing
    model = uninitialised(lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))).double()
    rng = np.random.default_rng([int(oseed), 11])
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(rng.normal(0.0, 1.0, tuple(p.shape))))
    # gradients of the size of weight_decay * p, so that the decay shows; the last step has none
    grads = [[rng.normal(0.0, 2e-3, tuple(p.shape)) for p in model.parameters()]
             for _ in range(OPTIMIZER_STEPS - 1)]
    grads.append([np.zeros(tuple(p.shape)) for p in model.parameters()])
    return model, grads


def optimizer_steps(make_optimizer, oseed):
    """make_optimizer(model) on a small float64 model, then a few steps on fixed gradients.

    Returns every parameter after the steps, flattened and concatenated.
    """
    model, grads = _small_model(oseed)
    opt = make_optimizer(model)
    if not isinstance(opt, torch.optim.Optimizer):
        raise TypeError(f"make_optimizer returned {type(opt).__name__}, expected a torch.optim optimizer")
    params = list(model.parameters())
    for step in grads:
        for p, g in zip(params, step):
            p.grad = torch.from_numpy(g.copy())
        opt.step()
    return np.concatenate([_as_numpy(p).ravel() for p in params])


def _student_optimizer_factory(student, name):
    """make_optimizer, or the seed's module-level `optimizer` rebuilt with its own settings on a given model."""
    make = getattr(student, name, None)
    if make is not None:
        return make
    opt = getattr(student, "optimizer", None)
    if not isinstance(opt, torch.optim.Optimizer):
        raise NameError(f"name '{name}' is not defined")
    accepted = inspect.signature(type(opt)).parameters
    settings = {k: v for k, v in opt.param_groups[0].items() if k != "params" and k in accepted}
    return lambda model: type(opt)(model.parameters(), **settings)


def optimizer_of(student, oseed, name="make_optimizer"):
    """optimizer_steps with make_optimizer, or, where it is absent, the module-level `optimizer`'s kind and settings."""
    return optimizer_steps(_student_optimizer_factory(student, name), oseed)


OPTIMIZER_VARIANTS = {
    "adam-no-decay": lambda ps: optim.Adam(ps, lr=0.01),
    "sgd": lambda ps: optim.SGD(ps, lr=0.01, weight_decay=0.002),
    "sgd-no-decay": lambda ps: optim.SGD(ps, lr=0.01),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.002),
    "adam-default-lr": lambda ps: optim.Adam(ps, weight_decay=0.002),
    "adam-lr-decay-swapped": lambda ps: optim.Adam(ps, lr=0.002, weight_decay=0.01),
}


def optimizer_variant(oseed, variant):
    factory = OPTIMIZER_VARIANTS[variant]
    return optimizer_steps(lambda network: factory(network.parameters()), oseed)


# --- l2_penalty ----------------------------------------------------------------

def mini_net(pseed, zero_bias=False):
    """A small float64 net laid out like Net (fc1 ... fc7), random weights and biases."""
    net = uninitialised(lambda: TrustedNet(MINI)).double()  # every parameter is drawn below
    rng = np.random.default_rng([int(pseed), 12])
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() > 1:
                p.copy_(torch.from_numpy(rng.normal(0.0, 0.5, tuple(p.shape))))
            else:
                bias = rng.normal(0.0, 1.0, tuple(p.shape))  # drawn either way: same weights
                p.copy_(torch.from_numpy(np.zeros_like(bias) if zero_bias else bias))
    return net


def _number(value, what="l2_penalty"):
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{what} returned a tensor of shape {tuple(value.shape)}, expected a scalar")
        return float(value.detach().reshape(()).item())
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{what} returned {type(value).__name__}, expected a scalar tensor") from None


def penalty_value(l2_penalty, pseed, lam):
    """l2_penalty on a small net whose biases are zero (so only the formula counts)."""
    return _number(l2_penalty(mini_net(pseed, zero_bias=True), float(lam)))


def penalty_variant(pseed, lam, variant, zero_bias=True):
    net = mini_net(pseed, zero_bias=zero_bias)
    weights_ = [p for p in net.parameters() if p.dim() > 1]
    squares = sum(float((w.detach() ** 2).sum()) for w in weights_)
    lam = float(lam)
    if variant == "sqrt":
        return lam * math.sqrt(squares)
    if variant == "norms":
        return lam * sum(float(w.detach().norm()) for w in weights_)
    if variant == "no-lambda":
        return squares
    if variant == "half":
        return lam / 2 * squares
    if variant == "biases-included":
        return lam * sum(float((p.detach() ** 2).sum()) for p in net.parameters())
    raise KeyError(variant)


def penalty_weights_only(l2_penalty, pseed, lam):
    """True when the biases do not change the penalty."""
    lam = float(lam)
    with_biases = _number(l2_penalty(mini_net(pseed), lam))
    without = _number(l2_penalty(mini_net(pseed, zero_bias=True), lam))
    return bool(abs(with_biases - without) <= 1e-9 * (1.0 + abs(without)))


def penalty_tensor(l2_penalty, pseed, lam):
    """(is a tensor, holds one number, requires_grad, has a grad_fn, backward reaches every weight)."""
    net = mini_net(pseed)
    value = l2_penalty(net, float(lam))
    if not isinstance(value, torch.Tensor):
        return False, False, False, False, False
    is_scalar = value.numel() == 1
    requires_grad = bool(value.requires_grad)
    has_grad_fn = value.grad_fn is not None
    reaches = False
    if is_scalar and requires_grad:
        value.reshape(()).backward()
        reaches = all(p.grad is not None and bool(p.grad.abs().sum() > 0)
                      for p in net.parameters() if p.dim() > 1)
    return True, is_scalar, requires_grad, has_grad_fn, reaches


# --- train ----------------------------------------------------------------------

def dataset(dseed, batches=BATCHES, batch_size=BATCH_SIZE):
    """MNIST-shaped synthetic data: 10 sparse class prototypes plus noise, normalised like MNIST.

    Fresh tensors each call (a training loop may change what it is given), drawn once a run.
    """
    images, labels = _dataset_arrays(int(dseed), batches, batch_size)
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.copy())


@functools.lru_cache(maxsize=4)  # loss_falls reads its data three times, train_variant's mistakes too
def _dataset_arrays(dseed, batches, batch_size):
    rng = np.random.default_rng([dseed, 13])
    n = batches * batch_size
    prototypes = rng.uniform(0, 1, (10, 784)) * (rng.uniform(0, 1, (10, 784)) < 0.3)
    labels = rng.integers(0, 10, n)
    images = np.clip(prototypes[labels] + rng.normal(0, 0.2, (n, 784)), 0, 1)
    images = ((images - 0.1307) / 0.3081).astype(np.float32).reshape(n, 1, 28, 28)
    return images, labels.astype(np.int64)


def loader(dseed):
    images, labels = dataset(dseed)
    return torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(images, labels), batch_size=BATCH_SIZE, shuffle=False)


def _trained_setup(wseed):
    net = load(uninitialised(lambda: TrustedNet(TRAIN_ARCH)), weights(wseed, TRAIN_ARCH))
    return net, optim.Adam(net.parameters(), lr=TRAIN_LR, weight_decay=0.002)


def fingerprint(net):
    """SAMPLE fixed entries of every parameter tensor, concatenated (float64)."""
    params = list(net.parameters())
    picks = _sample_indices(tuple(p.numel() for p in params))
    return np.concatenate([_as_numpy(p).ravel()[idx] for p, idx in zip(params, picks)])


@functools.lru_cache(maxsize=4)  # the same layout every time: the same entries
def _sample_indices(sizes):
    rng = np.random.default_rng(14)
    return [np.sort(rng.choice(size, min(size, SAMPLE), replace=False)) for size in sizes]


_GLOBALS = ("network", "optimizer", "train_loader")
_UNSET = object()


def _call_train(train, net, opt, data):
    """train(network, optimizer, loader), or the seed's train(epoch) over module-level globals."""
    required = [p for p in inspect.signature(train).parameters.values()
                if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(required) >= 3:
        return train(net, opt, data)
    scope = train.__globals__  # the student's module: its network, optimizer and train_loader are swapped
    saved = {k: scope.get(k, _UNSET) for k in _GLOBALS}
    scope.update(network=net, optimizer=opt, train_loader=data)
    try:
        return train(*([1] * len(required)))
    finally:
        for k, v in saved.items():
            if v is _UNSET:
                scope.pop(k, None)
            else:
                scope[k] = v


def _student_train(student, name):
    train = getattr(student, name, None)
    if train is None:
        raise NameError(f"name '{name}' is not defined")
    return train


def train_epoch(train, wseed, dseed):
    """train(net, Adam, loader) for one epoch from the weights of wseed: a fingerprint of the
    parameters it leaves, whatever it returns."""
    net, opt = _trained_setup(wseed)
    _call_train(train, net, opt, loader(dseed))
    return fingerprint(net)


def train_params(student, name, wseed, dseed):
    """The parameter fingerprint one epoch of the student's train leaves."""
    return train_epoch(_student_train(student, name), wseed, dseed)


def weight_decay_script(student):
    """Whether the file is the seed's script form: a module-level optimizer, neither make_optimizer
    nor l2_penalty (its L2 term is the optimizer's weight decay)."""
    names = vars(student)
    return "optimizer" in names and "make_optimizer" not in names and "l2_penalty" not in names


def _full_loss(net, dseed):
    images, labels = dataset(dseed)
    net.eval()
    with torch.no_grad():
        return float(F.nll_loss(net(images), labels))


def loss_falls(train, wseed, dseed, name="train"):
    """True when one epoch of train() lowers the loss over the whole training set.

    `train` is the function, or the student's module (then its function `name` is used).
    """
    if isinstance(train, type(inspect)):
        train = _student_train(train, name)
    net, opt = _trained_setup(wseed)
    before = _full_loss(net, dseed)
    _call_train(train, net, opt, loader(dseed))
    return bool(_full_loss(net, dseed) < before)


def _variant_train(variant):
    def train(network, optimizer, loader_):
        network.train()
        losses = []
        for data, target in loader_:
            if variant != "no-zero-grad":
                optimizer.zero_grad()
            loss = F.nll_loss(network(data), target)
            loss.backward()
            if variant != "no-step":
                optimizer.step()
            losses.append(loss.item())
        return losses
    return train


def train_variant(wseed, dseed, variant):
    """A known wrong train(), run like train_epoch (for mistakes): its parameter fingerprint."""
    return train_epoch(_variant_train(variant), wseed, dseed)
