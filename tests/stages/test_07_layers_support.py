"""The trusted layers module and the reference TinyNet, checked from the outside.

* against PyTorch autograd (float64): forward values, the loss, and every
  gradient, for several shapes, strides and paddings;
* against central finite differences (no PyTorch needed);
* the shape errors the stage specs' `error:` mistakes rely on;
* there is one layers.py (stages/support/), and `grade init` hands students that copy.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import load_module

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = ROOT / "stages" / "support" / "layers.py"


_load = load_module


@pytest.fixture(scope="module")
def layers():
    return _load("layers_under_test", SUPPORT)


@pytest.fixture(scope="module")
def tinynet(layers):
    """reference/tinynet.py, importing the support copy as `layers`."""
    saved = sys.modules.get("layers")
    sys.modules["layers"] = layers
    try:
        return _load("reference_tinynet", ROOT / "reference" / "tinynet.py")
    finally:
        if saved is None:
            sys.modules.pop("layers", None)
        else:
            sys.modules["layers"] = saved


def net_params(rng):
    return [
        rng.normal(0, 0.3, (6, 3, 3, 3)), rng.normal(0, 0.1, 6),
        rng.normal(0, 0.2, (12, 6, 3, 3)), rng.normal(0, 0.1, 12),
        rng.normal(0, 0.3, (48, 10)), rng.normal(0, 0.1, 10),
    ]


def one_hot(labels, classes=10):
    return np.eye(classes)[labels]


def close(a, b, tol=1e-10):
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


# --- one copy ---------------------------------------------------------------------


def test_layers_has_one_copy_that_init_hands_out(tmp_path):
    from grader.course.folder import load_course
    from grader.workspace import init_workspace

    text = SUPPORT.read_bytes()
    assert not (ROOT / "reference" / "layers.py").exists()
    assert not (ROOT / "student_template" / "layers.py").exists()
    written = init_workspace(tmp_path / "ws", load_course(None))  # the whole template
    assert Path("layers.py") in written
    assert (tmp_path / "ws" / "layers.py").read_bytes() == text


# --- PyTorch autograd ------------------------------------------------------------

CONV_CASES = [
    # N, C, H, W, FN, FH, FW, stride, pad
    (2, 3, 8, 8, 6, 3, 3, 1, 1),
    (3, 6, 4, 4, 12, 3, 3, 1, 1),
    (1, 2, 7, 5, 4, 3, 2, 2, 0),
    (2, 1, 9, 9, 3, 5, 5, 3, 2),
    (4, 3, 6, 7, 2, 1, 1, 1, 0),
    (2, 2, 5, 5, 3, 3, 3, 2, 1),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "x".join(map(str, c)))
def test_convolution_matches_torch(layers, case):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    N, C, H, W, FN, FH, FW, stride, pad = case
    rng = np.random.default_rng(hash(case) % 2**32)
    x, w, b = rng.normal(size=(N, C, H, W)), rng.normal(size=(FN, C, FH, FW)), rng.normal(size=FN)

    conv = layers.Convolution(w, b, stride=stride, pad=pad)
    out = conv.forward(x)
    dout = rng.normal(size=out.shape)
    dx = conv.backward(dout)

    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ot = F.conv2d(xt, wt, bt, stride=stride, padding=pad)
    (ot * torch.tensor(dout)).sum().backward()
    assert out.shape == tuple(ot.shape)
    close(out, ot.detach().numpy())
    close(dx, xt.grad.numpy())
    close(conv.dW, wt.grad.numpy())
    close(conv.db, bt.grad.numpy())
    assert conv.dW.shape == w.shape and conv.db.shape == b.shape


POOL_CASES = [
    # N, C, H, W, pool_h, pool_w, stride, pad
    (2, 6, 8, 8, 2, 2, 2, 0),
    (2, 12, 4, 4, 2, 2, 2, 0),
    (1, 3, 5, 5, 2, 2, 1, 0),
    (2, 2, 7, 6, 3, 2, 1, 1),
    (3, 1, 9, 9, 3, 3, 2, 1),
    (1, 2, 6, 6, 4, 4, 2, 2),
    (2, 3, 7, 7, 3, 3, 3, 0),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: "x".join(map(str, c)))
def test_maxpool_matches_torch(layers, case):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    N, C, H, W, ph, pw, stride, pad = case
    rng = np.random.default_rng(hash(case) % 2**32)
    x = rng.normal(size=(N, C, H, W))  # continuous values: no ties

    pool = layers.MaxPool(ph, pw, stride=stride, pad=pad)
    out = pool.forward(x)
    dout = rng.normal(size=out.shape)
    dx = pool.backward(dout)

    xt = torch.tensor(x, requires_grad=True)
    ot = F.max_pool2d(xt, (ph, pw), stride=stride, padding=pad)
    (ot * torch.tensor(dout)).sum().backward()
    assert out.shape == tuple(ot.shape)
    close(out, ot.detach().numpy(), 0)
    close(dx, xt.grad.numpy())


def test_maxpool_padding_is_never_the_max(layers):
    # all inputs negative: zero padding would win, -inf padding never does
    x = -1.0 - np.random.default_rng(1).random((1, 1, 4, 4))
    pool = layers.MaxPool(3, 3, stride=1, pad=1)
    out = pool.forward(x)
    assert out.shape == (1, 1, 4, 4)
    assert np.all(out < -1.0)
    dx = pool.backward(np.ones_like(out))
    assert dx.shape == x.shape and dx.sum() == pytest.approx(16.0)


def test_fully_connected_matches_torch(layers):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    for shape in [(5, 12, 2, 2), (1, 48), (3, 4, 3)]:
        D = int(np.prod(shape[1:]))
        x, w, b = rng.normal(size=shape), rng.normal(size=(D, 7)), rng.normal(size=7)
        fc = layers.FullyConnected(w, b)
        out = fc.forward(x)
        dout = rng.normal(size=out.shape)
        dx = fc.backward(dout)

        xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        ot = xt.reshape(shape[0], -1) @ wt + bt
        (ot * torch.tensor(dout)).sum().backward()
        close(out, ot.detach().numpy())
        assert dx.shape == shape  # the input's shape is restored
        close(dx, xt.grad.numpy())
        close(fc.dW, wt.grad.numpy())
        close(fc.db, bt.grad.numpy())


def test_relu_matches_torch_including_zero(layers):
    torch = pytest.importorskip("torch")
    x = np.array([[-2.0, 0.0, 3.0], [0.5, -0.0, -1e-300]])
    relu = layers.Relu()
    out = relu.forward(x)
    dx = relu.backward(np.full_like(x, 2.0))
    xt = torch.tensor(x, requires_grad=True)
    ot = torch.relu(xt)
    (ot * 2.0).sum().backward()
    close(out, ot.detach().numpy(), 0)
    close(dx, xt.grad.numpy(), 0)
    assert dx[0, 1] == 0.0  # mask is x <= 0: no gradient at exactly 0
    assert not np.shares_memory(out, x)


@pytest.mark.parametrize("labels_form", ["one-hot", "integer"])
def test_softmax_with_loss_matches_torch(layers, labels_form):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(4)
    for B in (1, 4, 8):
        x = rng.normal(0, 3, size=(B, 10))
        labels = rng.integers(0, 10, B)
        t = one_hot(labels) if labels_form == "one-hot" else labels
        layer = layers.SoftmaxWithLoss()
        loss = layer.forward(x, t)
        dx_default = layer.backward()
        dx_two = layer.backward(2.0)

        xt = torch.tensor(x, requires_grad=True)
        lt = F.cross_entropy(xt, torch.tensor(labels))  # mean over the batch
        lt.backward()
        assert np.ndim(loss) == 0
        close(loss, lt.item())
        close(dx_default, xt.grad.numpy())
        close(dx_two, 2.0 * xt.grad.numpy())


def test_softmax_with_loss_is_stable_for_huge_scores(layers):
    x = np.array([[1000.0, -1000.0, 0.0], [-800.0, 800.0, 799.0]])
    layer = layers.SoftmaxWithLoss()
    loss = layer.forward(x, np.array([1, 1]))
    dx = layer.backward()
    assert np.isfinite(loss) and np.all(np.isfinite(dx))
    # row 0: log softmax of the label = -2000; row 1: -log(1 + e^-1)
    assert loss == pytest.approx((2000.0 + np.log1p(np.exp(-1.0))) / 2)
    assert layers.softmax(x) == pytest.approx(np.exp(layers.log_softmax(x)))


def _torch_tinynet(torch, params, x, labels):
    F = torch.nn.functional
    tp = [torch.tensor(p, requires_grad=True) for p in params]
    h = F.max_pool2d(F.relu(F.conv2d(torch.tensor(x), tp[0], tp[1], padding=1)), 2, stride=2)
    h = F.max_pool2d(F.relu(F.conv2d(h, tp[2], tp[3], padding=1)), 2, stride=2)
    scores = h.reshape(h.shape[0], -1) @ tp[4] + tp[5]
    loss = F.cross_entropy(scores, torch.tensor(labels))
    loss.backward()
    return scores.detach().numpy(), loss.item(), [p.grad.numpy() for p in tp]


@pytest.mark.parametrize("B", [1, 3, 8])
@pytest.mark.parametrize("labels_form", ["one-hot", "integer"])
def test_reference_tinynet_matches_torch(tinynet, B, labels_form):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10 + B)
    params = net_params(rng)
    x = rng.normal(size=(B, 3, 8, 8))
    labels = rng.integers(0, 10, B)
    t = one_hot(labels) if labels_form == "one-hot" else labels

    net = tinynet.TinyNet(*params)
    scores, loss = net.forward(x, t)
    grads = net.backward()

    t_scores, t_loss, t_grads = _torch_tinynet(torch, params, x, labels)
    assert scores.shape == (B, 10)
    close(scores, t_scores)
    close(loss, t_loss)
    assert len(grads) == 6
    for g, tg, p in zip(grads, t_grads, params):
        assert g.shape == p.shape
        close(g, tg)


def test_reference_train_one_iter_matches_torch(tinynet):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(21)
    params = net_params(rng)
    x = rng.normal(size=(5, 3, 8, 8))
    labels = rng.integers(0, 10, 5)
    lr, wd = 0.2, 0.03
    copies = [p.copy() for p in params]

    decayed = tinynet.train_one_iter(*params, x, one_hot(labels), lr, wd)
    plain = tinynet.train_one_iter(*params, x, labels, lr)
    for p, c in zip(params, copies):
        assert np.array_equal(p, c)  # arguments untouched

    _, _, t_grads = _torch_tinynet(torch, params, x, labels)
    for i, (p, g) in enumerate(zip(params, t_grads)):
        decay = wd * p if i % 2 == 0 else 0.0  # weights only
        close(decayed[i], p - lr * (g + decay))
        close(plain[i], p - lr * g)


# --- central finite differences ----------------------------------------------------


def numerical_gradient(f, x, indices, eps=1e-6):
    """d f / d x[i] by central differences, for the given flat indices."""
    out = []
    flat = x.reshape(-1)
    for i in indices:
        old = flat[i]
        flat[i] = old + eps
        plus = f()
        flat[i] = old - eps
        minus = f()
        flat[i] = old
        out.append((plus - minus) / (2 * eps))
    return np.array(out)


def test_layer_chain_matches_finite_differences(layers):
    """conv (stride 2, pad 1) -> relu -> pool (pad 1) -> fc -> loss."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 2, 7, 7))
    w, b = rng.normal(0, 0.5, (3, 2, 3, 3)), rng.normal(0, 0.1, 3)
    labels = rng.integers(0, 4, 2)
    conv = layers.Convolution(w, b, stride=2, pad=1)            # -> (2, 3, 4, 4)
    relu, pool = layers.Relu(), layers.MaxPool(3, 3, stride=2, pad=1)  # -> (2, 3, 2, 2)
    wf, bf = rng.normal(0, 0.5, (12, 4)), rng.normal(0, 0.1, 4)
    fc, loss = layers.FullyConnected(wf, bf), layers.SoftmaxWithLoss()

    def f():
        return loss.forward(fc.forward(pool.forward(relu.forward(conv.forward(x)))), labels)

    f()
    dx = conv.backward(relu.backward(pool.backward(fc.backward(loss.backward()))))
    analytic = {"x": dx, "w": conv.dW, "b": conv.db, "wf": fc.dW, "bf": fc.db}
    arrays = {"x": x, "w": w, "b": b, "wf": wf, "bf": bf}
    for name, arr in arrays.items():
        idx = rng.choice(arr.size, size=min(arr.size, 25), replace=False)
        num = numerical_gradient(f, arr, idx)
        np.testing.assert_allclose(analytic[name].reshape(-1)[idx], num, rtol=1e-5, atol=1e-7,
                                   err_msg=name)


@pytest.mark.parametrize("labels_form", ["one-hot", "integer"])
def test_reference_tinynet_matches_finite_differences(tinynet, labels_form):
    rng = np.random.default_rng(6)
    params = net_params(rng)
    x = rng.normal(size=(3, 3, 8, 8))
    labels = rng.integers(0, 10, 3)
    t = one_hot(labels) if labels_form == "one-hot" else labels

    net = tinynet.TinyNet(*params)
    net.forward(x, t)
    grads = [g.copy() for g in net.backward()]

    def f():
        return tinynet.TinyNet(*params).forward(x, t)[1]

    for p, g in zip(params, grads):
        idx = rng.choice(p.size, size=min(p.size, 20), replace=False)
        np.testing.assert_allclose(g.reshape(-1)[idx], numerical_gradient(f, p, idx),
                                   rtol=1e-5, atol=1e-7)


# --- shape errors the specs' `error:` mistakes match ------------------------------


def _stage_regexes(stage_file: str) -> dict[str, str]:
    spec = yaml.safe_load((ROOT / "stages" / stage_file).read_text(encoding="utf-8"))
    return {m["name"]: m["error"] for m in spec["cases"][0]["mistakes"] if "error" in m}


def _wrong_net(layers, params, pad1=1, pad2=1, stride1=2, stride2=2):
    return [
        layers.Convolution(params[0], params[1], stride=1, pad=pad1), layers.Relu(),
        layers.MaxPool(2, 2, stride=stride1), layers.Convolution(params[2], params[3], pad=pad2),
        layers.Relu(), layers.MaxPool(2, 2, stride=stride2), layers.FullyConnected(params[4], params[5]),
    ]


def _error_of(net, x):
    with pytest.raises(ValueError) as info:
        for layer in net:
            x = layer.forward(x)
    return f"{info.type.__name__}: {info.value}"


def test_fully_connected_error_message(layers):
    fc = layers.FullyConnected(np.zeros((48, 10)), np.zeros(10))
    with pytest.raises(ValueError, match=r"^FullyConnected expects 48 input features per sample, got 12 "):
        fc.forward(np.zeros((2, 12, 1, 1)))


@pytest.mark.parametrize("stage_file", ["07_tinynet_forward.yaml", "08_tinynet_backward.yaml",
                                        "09_tinynet_sgd.yaml"])
def test_wrong_architectures_raise_what_the_specs_match(layers, stage_file):
    regexes = _stage_regexes(stage_file)
    params = net_params(np.random.default_rng(7))
    x = np.random.default_rng(8).normal(size=(2, 3, 8, 8))
    expected = {
        # (pad1, pad2, stride1, stride2): mistake
        (0, 0, 2, 2): "padding-zero", (0, 1, 2, 2): "padding-zero", (1, 0, 2, 2): "padding-zero",
        (1, 0, 2, 1): "padding-zero", (0, 0, 2, 1): "padding-zero",
        (1, 1, 2, 1): "pool-stride-one", (1, 1, 1, 2): "pool-stride-one", (1, 1, 1, 1): "pool-stride-one",
    }
    for (p1, p2, s1, s2), mistake in expected.items():
        message = _error_of(_wrong_net(layers, params, p1, p2, s1, s2), x)
        matching = [name for name, rx in regexes.items() if re.search(rx, message)]
        assert matching == [mistake], (p1, p2, s1, s2, message)


def test_backward_shape_errors(layers):
    relu = layers.Relu()
    relu.forward(np.ones((2, 6, 8, 8)))
    with pytest.raises(ValueError, match=r"Relu\.backward expects dout of shape \(2, 6, 8, 8\)"):
        relu.backward(np.ones((2, 6, 4, 4)))
    pool = layers.MaxPool(2, 2, stride=2)
    pool.forward(np.ones((2, 6, 8, 8)))
    with pytest.raises(ValueError, match=r"MaxPool\.backward expects dout of shape"):
        pool.backward(np.ones((2, 12, 4, 4)))
    with pytest.raises(ValueError, match="window 2x2"):
        layers.MaxPool(2, 2, stride=2).forward(np.ones((1, 1, 1, 1)))
    with pytest.raises(ValueError, match="expects 3 input channels"):
        layers.Convolution(np.ones((6, 3, 3, 3)), np.ones(6), pad=1).forward(np.ones((1, 6, 4, 4)))
    with pytest.raises(ValueError, match="targets of shape"):
        layers.SoftmaxWithLoss().forward(np.ones((2, 10)), np.ones((2, 9)))
