"""Driver for stage 13 (reading MNIST idx files).

Each call writes a small big-endian idx file with the case's random content
into the current working directory (the submission's temporary working
copy), hands its path to the student's function and returns the result as
an int64 array.  Only integer results are converted (uint8 and int64 arrays,
tuples or lists of ints compare equal to the reference); anything else is
returned as it is and fails the exact comparison.
"""
import struct

import numpy as np

IMAGES_FILE = "grader-images.idx3-ubyte"
LABELS_FILE = "grader-labels.idx1-ubyte"
IMAGES_MAGIC = 2051   # 0x00000803: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049   # 0x00000801: unsigned bytes, 1 dimension


def idx3_bytes(pixels):
    """The idx3-ubyte encoding of an (N, rows, cols) array of values 0..255."""
    n, rows, cols = np.shape(pixels)
    header = struct.pack(">iiii", IMAGES_MAGIC, n, rows, cols)
    return header + np.asarray(pixels, dtype=np.uint8).tobytes()


def idx1_bytes(labels):
    """The idx1-ubyte encoding of an (N,) array of values 0..255."""
    header = struct.pack(">ii", LABELS_MAGIC, len(labels))
    return header + np.asarray(labels, dtype=np.uint8).tobytes()


def _as_int_array(value, what):
    if value is None:
        raise TypeError(f"{what} returned None; did you forget `return`?")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):  # e.g. a tuple (images, count): the grader names what it is
        return value
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    return value


def read_images(train_images_ana, pixels):
    """Write `pixels` (N, rows, cols) as an idx3 file; return the student's parse."""
    with open(IMAGES_FILE, "wb") as fh:
        fh.write(idx3_bytes(pixels))
    return _as_int_array(train_images_ana(IMAGES_FILE), "train_images_ana")


def read_labels(train_labels_ana, labels):
    """Write `labels` (N,) as an idx1 file; return the student's parse."""
    with open(LABELS_FILE, "wb") as fh:
        fh.write(idx1_bytes(labels))
    return _as_int_array(train_labels_ana(LABELS_FILE), "train_labels_ana")
