"""reference/mnist_idx.py against an idx writer written here from the format.

The writer below uses int.to_bytes (not struct) so that it shares no code
with the reader; stage 13's driver (stages/drivers/mnist_idx.py) is checked
against it too.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import load_module

ROOT = Path(__file__).resolve().parents[2]


_load = load_module


@pytest.fixture(scope="module")
def reader():
    return _load("reference_mnist_idx", ROOT / "reference" / "mnist_idx.py")


@pytest.fixture(scope="module")
def driver():
    return _load("driver_mnist_idx", ROOT / "stages" / "drivers" / "mnist_idx.py")


def idx_bytes(values: np.ndarray, byteorder: str = "big") -> bytes:
    """idx encoding of an unsigned-byte array of any rank (1 or 3 for MNIST)."""
    values = np.asarray(values)
    magic = 0x0800 | values.ndim  # two zero bytes, type 0x08 (ubyte), rank
    header = magic.to_bytes(4, byteorder)
    for dim in values.shape:
        header += int(dim).to_bytes(4, byteorder)
    return header + bytes(int(v) for v in values.reshape(-1))


def test_writer_matches_the_published_layout():
    # first bytes of MNIST's train-labels-idx1-ubyte: magic 2049, 60000 items
    assert idx_bytes(np.zeros(60000, dtype=np.uint8))[:8] == bytes.fromhex("0000080100 00ea60".replace(" ", ""))
    assert idx_bytes(np.zeros((2, 28, 28), dtype=np.uint8))[:16] == bytes.fromhex(
        "00000803" "00000002" "0000001c" "0000001c")


@pytest.mark.parametrize("seed", range(8))
def test_images_reader(reader, tmp_path, seed):
    rng = np.random.default_rng(seed)
    n, rows, cols = (int(v) for v in rng.integers(1, [51, 29, 29]))
    pixels = rng.integers(0, 256, size=(n, rows, cols))
    path = tmp_path / "images.idx3-ubyte"
    path.write_bytes(idx_bytes(pixels))
    got = reader.train_images_ana(str(path))
    assert isinstance(got, np.ndarray) and got.dtype.kind in "iu"
    assert got.shape == (n, rows * cols)
    assert np.array_equal(got, pixels.reshape(n, rows * cols))


@pytest.mark.parametrize("seed", range(8))
def test_labels_reader(reader, tmp_path, seed):
    rng = np.random.default_rng(100 + seed)
    labels = rng.integers(0, 256, size=int(rng.integers(1, 1001)))
    path = tmp_path / "labels.idx1-ubyte"
    path.write_bytes(idx_bytes(labels))
    got = reader.train_labels_ana(str(path))
    assert isinstance(got, np.ndarray) and got.dtype.kind in "iu"
    assert got.shape == labels.shape
    assert np.array_equal(got, labels)


def test_edge_values_and_single_items(reader, tmp_path):
    path = tmp_path / "one.idx3-ubyte"
    path.write_bytes(idx_bytes(np.array([[[0, 255]]])))
    assert reader.train_images_ana(str(path)).tolist() == [[0, 255]]
    path = tmp_path / "one.idx1-ubyte"
    path.write_bytes(idx_bytes(np.array([255])))
    assert reader.train_labels_ana(str(path)).tolist() == [255]


def test_driver_writes_the_same_bytes(driver):
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, size=(3, 4, 5))
    labels = rng.integers(0, 256, size=17)
    assert driver.idx3_bytes(pixels) == idx_bytes(pixels)
    assert driver.idx1_bytes(labels) == idx_bytes(labels)


def test_little_endian_reading_fails_as_the_spec_expects(tmp_path):
    """A reader that unpacks the header with '<' raises an error stage 13's hint matches."""
    spec = yaml.safe_load((ROOT / "stages" / "13_mnist_idx.yaml").read_text(encoding="utf-8"))
    regex = spec["cases"][0]["mistakes"][0]["error"]
    source = (ROOT / "reference" / "mnist_idx.py").read_text(encoding="utf-8")
    assert "'>iiii'" in source and "'>ii'" in source
    wrong_file = tmp_path / "little_endian.py"
    wrong_file.write_text(source.replace("'>iiii'", "'<iiii'").replace("'>ii'", "'<ii'"), encoding="utf-8")
    wrong = _load("little_endian_reader", wrong_file)

    rng = np.random.default_rng(9)
    shapes = [(1,), (7,), (200,), (1, 1, 1), (5, 4, 3), (20, 28, 28), (130, 2, 2), (3, 129, 1)]
    shapes += [tuple(int(v) for v in rng.integers(1, [51, 29, 29])) for _ in range(20)]
    shapes += [(int(rng.integers(1, 1001)),) for _ in range(20)]
    for shape in shapes:
        path = tmp_path / "data.idx"
        path.write_bytes(idx_bytes(rng.integers(0, 256, size=shape)))
        function = wrong.train_labels_ana if len(shape) == 1 else wrong.train_images_ana
        with pytest.raises(Exception) as info:
            function(str(path))
        message = f"{info.type.__name__}: {info.value}"
        assert re.search(regex, message), message
