"""Driver for stage 11 (early-stopping): feed metric sequences, collect the decisions.

Every function takes the submission's ``EarlyStopping`` class (or module) and
returns plain Python values (lists of bools), compared exactly with what the
reference's class returns for the same sequence.
"""
import copy


def _numbers(values):
    return [float(v) for v in values]


def _make(cls, mode, patience, monitor=None):
    kwargs = {"mode": str(mode), "patience": int(patience)}
    if monitor is not None:
        kwargs["monitor"] = str(monitor)
    return cls(**kwargs)


def _decision(value):
    """A stop decision as a bool; a value that is not one comes back as it is, for the grader to name.

    None counts as "go on" (False), as it does in the course's `if early_stop(acc): break`; a list,
    tuple, dict or str is not a decision (`bool()` of it would hide what was returned).
    """
    if value is None:
        return False
    if isinstance(value, (list, tuple, dict, str)):
        return value
    return bool(value)


def _feed(es, metrics):
    return [_decision(es(m)) for m in metrics]


def decisions(cls, values, mode, patience):
    """EarlyStopping(mode=mode, patience=patience) called on each value in turn."""
    return _feed(_make(cls, mode, patience), _numbers(values))


def dict_decisions(cls, values, mode, patience, monitor):
    """Like decisions, but each value comes in a dict of metrics, under the key `monitor`."""
    others = [k for k in ("val_loss", "val_acc", "train_loss") if k != monitor]
    metrics = []
    for i, v in enumerate(_numbers(values)):
        d = {k: round(10.0 - 0.5 * i if j == 0 else 0.1 * i, 3) for j, k in enumerate(others)}
        d[monitor] = v
        d["epoch"] = i + 1
        metrics.append(d)
    return _feed(_make(cls, mode, patience, monitor), metrics)


def default_decisions(cls, values):
    """EarlyStopping() with its defaults (monitor 'val_loss', mode 'min', patience 1) on dicts."""
    metrics = [{"val_acc": 1.0 - v, "val_loss": v} for v in _numbers(values)]
    return _feed(cls(), metrics)


def round_trip(cls, values, mode, patience, at):
    """Feed values[:at], save state_dict(), load it into a fresh EarlyStopping(), feed the rest.

    The fresh object is built with the defaults, so load_state_dict must restore
    monitor, mode and patience as well as the best value and the counter.
    """
    values, at = _numbers(values), int(at)
    first = _make(cls, mode, patience)
    out = _feed(first, values[:at])
    state = copy.deepcopy(first.state_dict())
    second = cls()
    second.load_state_dict(state)
    return out + _feed(second, values[at:])


def with_reset(cls, values, mode, patience, at):
    """Feed values, calling reset() just before values[at]."""
    values, at = _numbers(values), int(at)
    es = _make(cls, mode, patience)
    out = _feed(es, values[:at])
    es.reset()
    return out + _feed(es, values[at:])


MODULE_SEQUENCE = [0.5, 0.6, 0.55, 0.58, 0.59, 0.7, 0.65, 0.62, 0.61, 0.6, 0.75, 0.4]


def module_early_stop(module):
    """(early_stop is an EarlyStopping, it decides like EarlyStopping(mode='max', patience=3)).

    Compared with the submission's own class, so that this checks the
    configuration of early_stop, not the class (other cases check the class).
    """
    if not hasattr(module, "early_stop"):  # not even the template's `early_stop = None`: name what is missing
        raise NameError("name 'early_stop' is not defined")
    es = getattr(module, "early_stop")
    cls = getattr(module, "EarlyStopping", None)
    if es is None:
        raise NotImplementedError("`early_stop` is not set yet")
    is_instance = cls is not None and isinstance(es, cls)
    got = _feed(copy.deepcopy(es), MODULE_SEQUENCE)
    want = _feed(cls(mode="max", patience=3), MODULE_SEQUENCE)
    return is_instance, got == want
