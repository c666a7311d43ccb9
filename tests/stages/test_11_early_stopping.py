"""Stage 11, early stopping: right-but-different submissions keep every point, wrong ones lose exactly the
cases they deserve to lose, with a hint that names the mistake."""

from __future__ import annotations

from conftest import case, failed, grade_stage, variant
from helpers import ES, ALL_11


RIGHT_EARLY_STOPPING = '''
import operator


class EarlyStopping:
    def __init__(self, monitor='val_loss', mode='min', patience=1):
        self.monitor, self.mode, self.patience = monitor, mode, patience
        self.best = None
        self.bad_epochs = 0

    def _better(self, value):
        if self.best is None:
            return True
        return (operator.le if self.mode == 'min' else operator.ge)(value, self.best)

    def state_dict(self):
        return dict(monitor=self.monitor, mode=self.mode, patience=self.patience,
                    best=self.best, bad_epochs=self.bad_epochs)

    def load_state_dict(self, state):
        for key, value in state.items():
            setattr(self, key, value)

    def reset(self):
        self.bad_epochs = 0

    def __call__(self, metrics):
        value = metrics[self.monitor] if isinstance(metrics, dict) else metrics
        if self._better(value):
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience


early_stop = EarlyStopping('val_loss', 'max', 3)
'''


def test_early_stopping_right_but_different_keeps_full_marks(sub):
    # other attribute names and state_dict keys, operator.le/ge, positional constructor arguments
    assert failed(grade_stage(sub({ES: RIGHT_EARLY_STOPPING}), "early-stopping")) == set()


def test_early_stopping_strict_improvement_loses_the_tie_cases(sub):
    wrong = variant(ES, "metrics <= self.__value", "metrics < self.__value").replace(
        "metrics >= self.__value", "metrics > self.__value")
    stage = grade_stage(sub({ES: wrong}), "early-stopping")
    # the fixed, dict, round-trip, reset and module sequences hold no ties; the random ones do
    assert failed(stage) == {"ties-fixed", "min-mode-random", "max-mode-random"}
    assert "ties count" in case(stage, "ties-fixed")["hint"]


def test_early_stopping_late_stop_loses_every_decision(sub):
    wrong = variant(ES, "if self.__times >= self.patience:", "if self.__times > self.patience:")
    stage = grade_stage(sub({ES: wrong}), "early-stopping")
    # module-early-stop compares early_stop with the submission's own class: only its configuration counts
    assert failed(stage) == ALL_11 - {"module-early-stop"}
    assert "docstring at the top of early_stopping.py" in case(stage, "min-mode-fixed")["hint"]


def test_early_stopping_seed_reset_loses_only_reset(sub):
    # the seed's own submission: reset() sets the counter to 1
    wrong = variant(ES, "kept).\"\"\"\n        # ********** Begin **********\n        self.__times = 0",
                    "kept).\"\"\"\n        # ********** Begin **********\n        self.__times = 1")
    stage = grade_stage(sub({ES: wrong}), "early-stopping")
    assert failed(stage) == {"reset"}
    assert "not 1" in case(stage, "reset")["hint"]


def test_early_stopping_module_object_in_the_wrong_mode(sub):
    wrong = variant(ES, "\nearly_stop = EarlyStopping(mode='max', patience=3)",
                    "\nearly_stop = EarlyStopping(mode='min', patience=3)")
    stage = grade_stage(sub({ES: wrong}), "early-stopping")
    assert failed(stage) == {"module-early-stop"}
    assert "comment above it" in case(stage, "module-early-stop")["hint"]


def test_early_stopping_state_dict_without_the_counter(sub):
    wrong = variant(ES, "        self.__times = state_dict['times']\n", "")
    stage = grade_stage(sub({ES: wrong}), "early-stopping")
    assert failed(stage) == {"state-dict-round-trip"}
