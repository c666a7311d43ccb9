"""The grader's stand-in for tensorflow (and, through keras.py next to it, for keras).

The course's MNIST page (stage 13) imports tensorflow and keras at the top of its file, although
the functions it grades never use them. tensorflow is not installed where the course is graded, so
every run gets this file as ``tensorflow.py`` in its working copy: ``import tensorflow as tf``,
``from tensorflow import keras``, ``import keras``, ``from keras import datasets`` and any submodule
import (``from tensorflow.keras.layers import Dense``) work, and the first real use of anything in
them (a call, e.g. ``tf.keras.datasets.mnist.load_data()``) raises ModuleNotFoundError with a
message that says so.
"""

import importlib.abc
import importlib.machinery
import sys
import types

__version__ = "0.0-grader-stand-in"
_ROOTS = ("tensorflow", "keras")


def _message(what):
    package = what.split(".")[0]
    return (f"{package} is not available when grading; stage 13 does not need it "
            f"(`{what}` was used: this run has the grader's stand-in for {package}, which only imports)")


class _Unavailable:
    """Anything read from the stand-in: more attributes can be read from it, using it fails."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Unavailable(f"{self._name}.{name}")

    def __call__(self, *args, **kwargs):
        raise ModuleNotFoundError(_message(self._name), name=self._name.split(".")[0])

    def __repr__(self):
        return f"<the grader's stand-in for {self._name}>"


class _StandInModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Unavailable(f"{self.__name__}.{name}")


def stand_in_module(name):
    """The stand-in module `name` (a package: its submodules import too), registered in sys.modules."""
    if name not in sys.modules or not isinstance(sys.modules[name], _StandInModule):
        module = _StandInModule(name)
        module.__path__ = []
        module.__version__ = __version__
        module.__spec__ = importlib.machinery.ModuleSpec(name, _FINDER, is_package=True)
        sys.modules[name] = module
    return sys.modules[name]


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves `tensorflow.*` and `keras.*` submodules as stand-in modules."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in _ROOTS and "." in fullname:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return stand_in_module(spec.name)

    def exec_module(self, module):
        parent, _, child = module.__name__.rpartition(".")
        setattr(sys.modules[parent], child, module)


_FINDER = _Finder()

if __name__ == "tensorflow":  # imported by a run (loaded under another name, e.g. by tests, it registers nothing)
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    _module = stand_in_module("tensorflow")  # takes this file's place in sys.modules
    _module.keras = stand_in_module("tensorflow.keras")
    _module.stand_in_module = stand_in_module
