"""Driver for stages 7-9 (TinyNet forward, backward, one SGD step).

`gradients` and `unchanged` run the student's code in the submission's
process.  The `*_variant` helpers compute known wrong answers for `mistakes`
and run in the reference's process only, where `TinyNet` is the reference's
class (its layers are attributes conv1, relu1, pool1, conv2, relu2, pool2,
fc, loss).
"""
import numpy as np

PARAMS = ("W_conv1", "b_conv1", "W_conv2", "b_conv2", "W_fc", "b_fc")


def gradients(TinyNet, W_conv1, b_conv1, W_conv2, b_conv2, W_fc, b_fc, x, t):
    """Build the student's TinyNet, run forward(x, t) then backward().

    Returns the six gradients backward() returns, as a tuple.
    """
    network = TinyNet(W_conv1, b_conv1, W_conv2, b_conv2, W_fc, b_fc)
    network.forward(x, t)
    grads = network.backward()
    if grads is None:
        raise TypeError("TinyNet.backward() returned None; it must return "
                        "(dW_conv1, db_conv1, dW_conv2, db_conv2, dW_fc, db_fc)")
    # a list or tuple is the six gradients; anything else comes back as it is, for the grader to name
    # (tuple() of one array would split it into rows and misreport what was returned)
    return tuple(grads) if isinstance(grads, (list, tuple)) else grads


def modified_arguments(train_one_iter, W_conv1, b_conv1, W_conv2, b_conv2, W_fc, b_fc,
                       x, t, learning_rate):
    """Call train_one_iter (9 arguments) and name the arguments it changed.

    Returns "none" when every array the caller passed still holds its values
    (exact comparison), else the changed ones, e.g. "W_conv1, b_conv1", so
    that the report shows them.
    """
    args = [W_conv1, b_conv1, W_conv2, b_conv2, W_fc, b_fc, x, t]
    names = list(PARAMS) + ["x", "t"]
    before = [np.array(a, copy=True) for a in args]
    train_one_iter(*args, learning_rate)
    changed = [name for name, old, new in zip(names, before, args)
               if not np.array_equal(old, new)]
    return ", ".join(changed) or "none"


def nine_parameters(train_one_iter):
    """Whether train_one_iter is the seed template's 9-parameter form (no weight_decay at all)."""
    import inspect

    try:
        params = inspect.signature(train_one_iter).parameters.values()
    except (TypeError, ValueError):
        return False
    plain = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(plain) == 9 and len(plain) == len(params) and "weight_decay" not in {p.name for p in plain}


# --- known mistakes (reference side) ---------------------------------------

def scores_variant(TinyNet, W_conv1, b_conv1, W_conv2, b_conv2, W_fc, b_fc, x, t,
                   pad1=1, pad2=1, stride1=2, stride2=2):
    """Scores of a TinyNet built with other paddings / pool strides."""
    from layers import Convolution, MaxPool
    net = TinyNet(W_conv1, b_conv1, W_conv2, b_conv2, W_fc, b_fc)
    net.conv1 = Convolution(W_conv1, b_conv1, stride=1, pad=pad1)
    net.conv2 = Convolution(W_conv2, b_conv2, stride=1, pad=pad2)
    net.pool1 = MaxPool(2, 2, stride=stride1, pad=0)
    net.pool2 = MaxPool(2, 2, stride=stride2, pad=0)
    return net.forward(x, t)[0]


def gradients_skipping(TinyNet, W_conv1, b_conv1, W_conv2, b_conv2, W_fc, b_fc, x, t,
                       skip):
    """The six gradients of a backward pass that leaves out layer `skip`."""
    net = TinyNet(W_conv1, b_conv1, W_conv2, b_conv2, W_fc, b_fc)
    net.forward(x, t)
    dx = net.loss.backward()
    for name in ("fc", "pool2", "relu2", "conv2", "pool1", "relu1", "conv1"):
        if name != skip:
            dx = getattr(net, name).backward(dx)
    return (net.conv1.dW, net.conv1.db, net.conv2.dW, net.conv2.db, net.fc.dW, net.fc.db)


def sgd_variant(TinyNet, W_conv1, b_conv1, W_conv2, b_conv2, W_fc, b_fc, x, t,
                learning_rate, weight_decay, mistake):
    """One SGD step computed with a known mistake in the update rule.

    mistake: "bias-decayed"  biases decayed like the weights
             "decay-ignored" weight_decay accepted but not applied
             "decay-without-lr"  W - lr*dW - weight_decay*W
    """
    net = TinyNet(W_conv1, b_conv1, W_conv2, b_conv2, W_fc, b_fc)
    net.forward(x, t)
    grads = net.backward()
    params = (W_conv1, b_conv1, W_conv2, b_conv2, W_fc, b_fc)
    lr, wd = learning_rate, weight_decay
    out = []
    for i, (p, g) in enumerate(zip(params, grads)):
        is_weight = i % 2 == 0
        if mistake == "bias-decayed":
            out.append(p - lr * (g + wd * p))
        elif mistake == "decay-ignored":
            out.append(p - lr * g)
        elif mistake == "decay-without-lr":
            out.append(p - lr * g - (wd * p if is_weight else 0))
        else:
            raise ValueError(f"unknown mistake {mistake!r}")
    return tuple(out)
