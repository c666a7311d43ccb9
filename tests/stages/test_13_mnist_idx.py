"""Stage 13, MNIST idx files: right-but-different submissions keep every point, wrong ones lose exactly the
cases they deserve to lose, with a hint that names the mistake."""

from __future__ import annotations

from conftest import case, failed, grade_stage, variant
from helpers import IDX, ALL_IDX, replace_once, hints_of


FROMBUFFER_IDX = '''\
import struct
import numpy as np


def train_images_ana(filepath):
    with open(filepath, 'rb') as fh:
        data = fh.read()
    _, n, rows, cols = struct.unpack('>4I', data[:16])
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows * cols)


def train_labels_ana(filepath):
    with open(filepath, 'rb') as fh:
        magic, n = struct.unpack('>II', fh.read(8))
        return np.array(list(fh.read(n)))
'''


def test_idx_frombuffer_reader_keeps_full_marks(sub):
    stage = grade_stage(sub({IDX: FROMBUFFER_IDX}), "mnist-idx")
    assert failed(stage) == set(), stage


def test_idx_little_endian_headers_fail_with_hint(sub):
    wrong = replace_once(variant(IDX, "'>iiii'", "'<iiii'", count=2), "'>ii'", "'<ii'", count=2)
    stage = grade_stage(sub({IDX: wrong}), "mnist-idx")
    assert failed(stage) == ALL_IDX
    assert all("big-endian" in h and "byte-order character" in h for h in hints_of(stage, ALL_IDX))


def test_idx_native_byte_order_fails_with_the_same_hint(sub):
    wrong = variant(IDX, "struct.unpack_from('>ii', bin_data, offset)", "struct.unpack_from('ii', bin_data, offset)")
    stage = grade_stage(sub({IDX: wrong}), "mnist-idx")
    assert failed(stage) == {"labels-small", "labels-random"}
    assert "big-endian" in case(stage, "labels-random")["hint"]


def test_idx_normalised_pixels_fail(sub):
    wrong = variant(IDX, "img = np.reshape(imgs, (image_num, rows_num * column_num))",
                    "img = np.reshape(imgs, (image_num, rows_num * column_num)) / 255.0")
    stage = grade_stage(sub({IDX: wrong}), "mnist-idx")
    assert failed(stage) == {"images-small", "images-random", "images-mnist-size"}
