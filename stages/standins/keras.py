"""The grader's stand-in for keras: the one tensorflow.py (next to this file) provides."""

import sys

import tensorflow as _tensorflow

if __name__ == "keras":
    sys.modules[__name__] = _tensorflow.stand_in_module("keras")
