"""Stage 10 as the course teaches it: torchvision loaders at import, module-level network and optimizer."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import ROOT, case, failed, grade_stage, make_submission  # noqa: E402

STAND_IN = ROOT / "stages" / "standins" / "torchvision.py"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tv():
    return _load(STAND_IN, "grade_torchvision_stand_in")  # another name: registers nothing in sys.modules


@pytest.fixture(scope="module")
def l2():
    return _load(ROOT / "stages" / "drivers" / "l2.py", "grade_l2_driver")


# -- the stand-in, against torchvision's documented behaviour ------------------------------------

def test_to_tensor_scales_uint8_and_moves_channels_first(tv):
    img = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    out = tv.ToTensor()(img)
    assert out.dtype == torch.float32 and tuple(out.shape) == (1, 3, 4)
    assert torch.allclose(out[0], torch.from_numpy(img.astype(np.float32) / 255))
    rgb = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    out = tv.ToTensor()(rgb)
    assert tuple(out.shape) == (3, 5, 6) and torch.allclose(out[2], torch.from_numpy(rgb[:, :, 2] / 255).float())
    with pytest.raises(TypeError, match="PIL Image or ndarray"):
        tv.ToTensor()(torch.zeros(2, 2))


def test_to_tensor_reads_a_pil_image(tv):
    from PIL import Image

    arr = np.random.default_rng(1).integers(0, 256, (28, 28), dtype=np.uint8)
    out = tv.ToTensor()(Image.fromarray(arr))
    assert tuple(out.shape) == (1, 28, 28) and torch.allclose(out[0], torch.from_numpy(arr / 255).float())


def test_normalize_per_channel_and_compose_in_order(tv):
    x = torch.rand(2, 3, 3)
    out = tv.Normalize((0.5, 0.25), (2.0, 0.5))(x)
    assert torch.allclose(out[0], (x[0] - 0.5) / 2.0) and torch.allclose(out[1], (x[1] - 0.25) / 0.5)
    assert torch.equal(x, x.clone())  # not in place by default
    pipeline = tv.Compose([tv.ToTensor(), tv.Normalize((0.1307,), (0.3081,))])
    img = np.full((2, 2), 255, dtype=np.uint8)
    assert torch.allclose(pipeline(img), torch.full((1, 2, 2), (1 - 0.1307) / 0.3081))
    with pytest.raises(TypeError, match="ToTensor"):
        tv.Normalize((0.5,), (0.5,))(np.zeros((1, 2, 2)))


def test_mnist_reads_idx_files_laid_out_like_torchvision(tv, l2, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    l2.write_mnist("data")
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        assert (tmp_path / "data" / "MNIST" / "raw" / name).is_file()
    train = tv.MNIST("./data/", train=True, download=True)
    test = tv.MNIST("./data/", train=False)
    assert len(train) == l2.MNIST_SIZES["train"] and len(test) == l2.MNIST_SIZES["t10k"]
    img, label = train[3]
    assert img.size == (28, 28) and img.mode == "L" and isinstance(label, int) and 0 <= label <= 9
    images, labels = l2.mnist_arrays(l2.MNIST_SIZES["train"], l2.MNIST_SEED)
    assert np.array_equal(np.asarray(img), images[3]) and label == labels[3]
    shown = tv.MNIST("./data/", transform=tv.ToTensor(), target_transform=lambda y: y + 100)[0]
    assert tuple(shown[0].shape) == (1, 28, 28) and shown[1] >= 100
    assert train.data.dtype == torch.uint8 and train.targets.dtype == torch.int64


def test_mnist_never_downloads(tv, l2, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match="Dataset not found"):
        tv.MNIST("./data/", download=True)  # no files anywhere: an error, not a download
    l2.write_mnist("data")
    with pytest.raises(RuntimeError, match="Dataset not found"):
        tv.MNIST(str(tmp_path / "elsewhere"), download=False)
    # the seed's absolute platform path, download=True: the run's small data set stands in
    assert len(tv.MNIST("/data/workspace/myshixun/data/", train=False, download=True)) == l2.MNIST_SIZES["t10k"]


def test_the_platform_folder_holds_the_mnist_the_driver_writes(l2, tmp_path):
    """stages/platform/ is what every run sees at /data/workspace/myshixun/: the same small MNIST (and stage 13's files)."""
    l2.write_mnist(str(tmp_path))
    platform = ROOT / "stages" / "platform" / "data" / "workspace" / "myshixun" / "data" / "MNIST" / "raw"
    written = sorted(p.name for p in (tmp_path / "MNIST" / "raw").iterdir())
    assert written == sorted(p.name for p in platform.iterdir()) and len(written) == 4
    for name in written:
        assert (platform / name).read_bytes() == (tmp_path / "MNIST" / "raw" / name).read_bytes(), name
    step1 = ROOT / "stages" / "platform" / "data" / "workspace" / "myshixun" / "src" / "step1"
    images, labels = l2.mnist_arrays(100, l2.MNIST_SEED + 2)  # stage 13's files, made the same way
    assert (step1 / "train-images.idx3-ubyte").read_bytes() == l2.idx_bytes(images)
    assert (step1 / "train-labels.idx1-ubyte").read_bytes() == l2.idx_bytes(labels)


def test_a_run_gets_the_same_mnist_from_the_platform_folder_or_drawn(l2, tmp_path):
    """provide_mnist (every run) copies the platform's files where they are, else draws them: the same bytes."""
    platform = ROOT / "stages" / "platform" / "data" / "workspace" / "myshixun" / "data"
    l2.provide_mnist(str(tmp_path / "copied"), platform=str(platform))
    l2.provide_mnist(str(tmp_path / "drawn"), platform=str(tmp_path / "nowhere"))
    l2.write_mnist(str(tmp_path / "written"))
    names = sorted(p.name for p in (tmp_path / "written" / "MNIST" / "raw").iterdir())
    for kind in ("copied", "drawn"):
        raw = tmp_path / kind / "MNIST" / "raw"
        assert sorted(p.name for p in raw.iterdir()) == names
        for name in names:
            assert (raw / name).read_bytes() == (tmp_path / "written" / "MNIST" / "raw" / name).read_bytes(), (kind, name)


def test_anything_else_is_a_clear_error(tv):
    with pytest.raises(AttributeError, match="stand-in for torchvision.*Normalize"):
        tv.transforms.RandomRotation(20)
    with pytest.raises(AttributeError, match="torchvision.datasets.FashionMNIST is not available"):
        tv.datasets.FashionMNIST  # noqa: B018
    with pytest.raises(AttributeError, match="torchvision.models"):
        tv.models  # noqa: B018  (module-level __getattr__ of the stand-in itself)


def test_import_forms_students_use(tmp_path):
    (tmp_path / "torchvision.py").write_bytes(STAND_IN.read_bytes())
    script = ("import torchvision, torchvision.transforms as T\nfrom torchvision import datasets, transforms\n"
              "from torchvision.transforms import ToTensor\n"
              "assert T is transforms and ToTensor is transforms.ToTensor and datasets.MNIST\nprint('ok')\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "ok", proc.stderr


def test_against_real_torchvision_where_installed():
    real = pytest.importorskip("torchvision")  # skipped here: PyPI torchvision needs the CUDA torch
    tv_ = _load(STAND_IN, "grade_torchvision_stand_in_2")
    img = np.random.default_rng(2).integers(0, 256, (28, 28), dtype=np.uint8)
    assert torch.equal(tv_.ToTensor()(img), real.transforms.ToTensor()(img))
    x = torch.rand(1, 4, 4)
    assert torch.allclose(tv_.Normalize((0.1,), (0.3,))(x), real.transforms.Normalize((0.1,), (0.3,))(x))


# -- grading the course's own script ------------------------------------------------------------------

SEED_STYLE = '''\
import warnings
warnings.filterwarnings("ignore")
import torch
import torchvision
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import DataLoader

batch_size_train = 64
batch_size_test = 1000
learning_rate = 0.01
log_interval = 10
torch.manual_seed(1)

train_loader = torch.utils.data.DataLoader(
    torchvision.datasets.MNIST('./data/', train=True, download=True,
                               transform=torchvision.transforms.Compose([
                                   torchvision.transforms.ToTensor(),
                                   torchvision.transforms.Normalize((0.1307,), (0.3081,))])),
    batch_size=batch_size_train, shuffle=True)
test_loader = torch.utils.data.DataLoader(
    torchvision.datasets.MNIST('./data/', train=False, download=True,
                               transform=torchvision.transforms.Compose([
                                   torchvision.transforms.ToTensor(),
                                   torchvision.transforms.Normalize((0.1307,), (0.3081,))])),
    batch_size=batch_size_test, shuffle=True)


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.fc1 = nn.Linear(784, 700)
        self.fc2 = nn.Linear(700, 700)
        self.fc3 = nn.Linear(700, 700)
        self.fc4 = nn.Linear(700, 700)
        self.fc5 = nn.Linear(700, 700)
        self.fc6 = nn.Linear(700, 700)
        self.fc7 = nn.Linear(700, 10)

    def forward(self, x):
        x = x.view(-1, 784)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = F.relu(self.fc3(x))
        x = F.relu(self.fc4(x))
        x = F.relu(self.fc5(x))
        x = F.relu(self.fc6(x))
        x = self.fc7(x)
        return F.log_softmax(x)


network = Net()
optimizer = optim.Adam(network.parameters(), lr=learning_rate, weight_decay=0.002)


def train(epoch):
    network.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        optimizer.zero_grad()
        output = network(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % log_interval == 0:
            print('Train Epoch: {} [{}/{} ({:.0f}%)]\\tLoss: {:.6f}'.format(
                epoch, batch_idx * len(data), len(train_loader.dataset),
                100. * batch_idx / len(train_loader), loss.item()))


def test():
    network.eval()
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            pred = network(data).data.max(1, keepdim=True)[1]
            correct += pred.eq(target.data.view_as(pred)).sum()
    print('Accuracy: {}/{}'.format(correct, len(test_loader.dataset)))


train(1)
'''


@pytest.fixture(scope="module")
def seed_result(tmp_path_factory):
    sub = make_submission(tmp_path_factory.mktemp("seed"), {"l2_regularization.py": SEED_STYLE}, base=None)
    return grade_stage(sub, 10)


def test_seed_style_script_scores_architecture_optimizer_and_training(seed_result):
    for name in ("net-architecture", "net-forward", "net-forward-hidden", "optimizer-adam", "train-epoch",
                 "train-loss-falls"):
        assert case(seed_result, name)["status"] == "passed", case(seed_result, name)


def test_seed_style_script_runs_within_the_limit_without_downloading(seed_result):
    assert seed_result["status"] != "error", seed_result["message"]
    out = seed_result["details"]["output"]
    assert "Train Epoch: 1 [0/64 (0%)]" in out  # the top-level train(1) ran over the run's small data set (one batch)
    assert "Downloading" not in out
    assert all(c["status"] != "timeout" for c in seed_result["cases"])
    assert seed_result["details"]["wall_s"] < 20


def test_the_script_without_l2_penalty_is_the_original_form_with_full_marks(seed_result):
    assert seed_result["score"] == seed_result["max_score"] == 19, seed_result
    assert {c["name"] for c in seed_result["cases"]} == {
        "net-architecture", "net-forward", "net-forward-hidden", "optimizer-adam", "train-epoch", "train-loss-falls"}
    assert case(seed_result, "optimizer-adam")["max_score"] == 9  # the L2 term is the optimizer's weight decay
    assert any("l2_penalty not graded" in n for n in seed_result["details"]["notes"])


def test_the_script_without_weight_decay_loses_the_l2_term(tmp_path):
    text = SEED_STYLE.replace("lr=learning_rate, weight_decay=0.002)", "lr=learning_rate)")
    result = grade_stage(make_submission(tmp_path, {"l2_regularization.py": text}, base=None), 10)
    assert failed(result) == {"optimizer-adam"} and result["score"] == 10
    assert "without weight decay" in case(result, "optimizer-adam")["hint"]


def test_a_script_that_defines_l2_penalty_is_graded_on_it(tmp_path):
    text = SEED_STYLE.replace("\nnetwork = Net()", "\ndef l2_penalty(model, lam):\n    return lam\n\n\nnetwork = Net()")
    result = grade_stage(make_submission(tmp_path, {"l2_regularization.py": text}, base=None), 10)
    assert {"l2-penalty-value", "l2-penalty-hidden"} <= failed(result)
    assert not result["details"]["notes"] and result["max_score"] == 19


def test_without_make_optimizer_or_optimizer_the_function_is_named(tmp_path):
    text = SEED_STYLE.replace("optimizer = optim.Adam(network.parameters(), lr=learning_rate, weight_decay=0.002)",
                              "opt = optim.Adam(network.parameters(), lr=learning_rate, weight_decay=0.002)")
    text = text.replace("optimizer.", "opt.").replace("train(1)\n", "")
    sub = make_submission(tmp_path, {"l2_regularization.py": text}, base=None)
    result = grade_stage(sub, 10)
    c = case(result, "optimizer-adam")
    assert c["status"] == "error" and "does not define 'make_optimizer'" in c["message"]


def test_module_level_sgd_optimizer_is_graded_and_fails(tmp_path):
    text = SEED_STYLE.replace("optim.Adam(network.parameters(), lr=learning_rate, weight_decay=0.002)",
                              "optim.SGD(network.parameters(), lr=0.01, weight_decay=0.002)")
    sub = make_submission(tmp_path, {"l2_regularization.py": text}, base=None)
    result = grade_stage(sub, 10)
    c = case(result, "optimizer-adam")
    assert c["status"] == "failed" and "SGD" in c["hint"]


@pytest.mark.parametrize("installed, expected", [
    ("from . import datasets, transforms\n", "real"),                          # a working torchvision: used
    ("raise OSError('operator torchvision::nms does not exist')\n", "stand-in"),  # a CUDA build: the stand-in
])
def test_a_working_torchvision_is_preferred_to_the_stand_in(tmp_path, installed, expected):
    site, work = tmp_path / "site" / "torchvision", tmp_path / "work"
    site.mkdir(parents=True)
    work.mkdir()
    (site / "__init__.py").write_text("KIND = 'real'\n" + installed, encoding="utf-8")
    (site / "datasets.py").write_text("MNIST = object\n", encoding="utf-8")
    (site / "transforms.py").write_text("class ToTensor:\n    pass\n", encoding="utf-8")
    (work / "torchvision.py").write_bytes(STAND_IN.read_bytes())
    script = ("import torchvision, torchvision.transforms\n"
              "print(getattr(torchvision, 'KIND', None) or 'stand-in', torchvision.transforms.ToTensor.__module__)\n")
    env = {**os.environ, "PYTHONPATH": str(site.parent)}
    proc = subprocess.run([sys.executable, "-c", script], cwd=work, env=env, capture_output=True, text=True,
                          timeout=120)
    kind, module = proc.stdout.split()
    assert kind == expected, proc.stderr
    assert module == ("torchvision.transforms" if expected == "real" else "torchvision")


# -- the driver's weights and networks ----------------------------------------------------------------

def test_weights_are_uniform_on_a_byte_grid_and_differ_by_seed(l2):
    draws = l2.weights(7)
    assert [list(levels.shape) for levels, _ in draws] == l2.expected_shapes()
    net = l2.load(l2.uninitialised(l2.TrustedNet), draws)
    w1, b1 = net.fc1.weight.detach().numpy(), net.fc1.bias.detach().numpy()
    bound = np.sqrt(3.0 / 784)
    assert w1.dtype == np.float32 and np.abs(w1).max() <= bound and np.abs(b1).max() <= 0.01
    assert len(np.unique(w1)) == 256 and abs(w1.mean()) < 0.01 * bound  # symmetric about 0
    assert abs(w1.std() - bound / np.sqrt(3)) < 0.01 * bound  # the variance of uniform(-bound, bound)
    other = l2.load(l2.uninitialised(l2.TrustedNet), l2.weights(8)).fc1.weight.detach().numpy()
    assert np.mean(w1 == other) < 0.01  # another seed, other weights
    again = l2.load(l2.uninitialised(l2.TrustedNet), l2.weights(7)).fc1.weight.detach().numpy()
    assert np.array_equal(w1, again)
    double = l2.load(l2.uninitialised(l2.TrustedNet).double(), draws)
    assert double.fc1.weight.dtype == torch.float64 and np.array_equal(double.fc1.weight.detach().numpy(), w1)


@pytest.mark.parametrize("shapes", [[(700, 784), (700,), (10, 700), (10,)], [(3,), (5, 2), (1,), (7,), (4, 4)], [(1,)]])
def test_signed_bytes_are_numpys_int8_draws_byte_for_byte(l2, shapes):
    """weights() reads the raw stream: the same levels rng.integers(-128, 128, dtype=int8) draws, odd sizes too."""
    for seed in ([7, 10], [123456, 10]):
        rng = np.random.default_rng(seed)
        expected = [rng.integers(-128, 128, shape, dtype=np.int8) for shape in shapes]
        got = l2.signed_bytes(np.random.default_rng(seed), shapes)
        assert [g.dtype for g in got] == [np.int8] * len(shapes) and [g.shape for g in got] == shapes
        assert all(np.array_equal(g, e) for g, e in zip(got, expected))
    assert {int(v) for v in np.concatenate([g.ravel() for g in l2.signed_bytes(np.random.default_rng(1), [(4000,)])])} \
        == set(range(-128, 128))


def test_uninitialised_builds_the_net_and_restores_linear_afterwards(l2):
    reset = torch.nn.Linear.reset_parameters

    class Broken(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(3, 2)
            raise RuntimeError("the student's __init__ failed")

    with pytest.raises(RuntimeError, match="__init__ failed"):
        l2.uninitialised(Broken)
    assert torch.nn.Linear.reset_parameters is reset
    assert l2.param_shapes(l2.TrustedNet) == l2.expected_shapes()
    assert torch.nn.Linear.reset_parameters is reset
