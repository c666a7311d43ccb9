"""Shared by the stage tests: case names, file names and small text helpers."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from conftest import case, variant

# The attack suites also run under the uid sandbox (tests/engine/test_sandbox_uid.py runs them in a
# Docker-like jail with GRADE_SANDBOX=uid); what only bubblewrap blocks is marked, with the reason.
UID_BACKEND = os.environ.get("GRADE_SANDBOX") == "uid"


def uid_cannot(what: str):
    """An attack the uid sandbox does not block (docs/security.md lists each): expected to get through there."""
    return pytest.mark.xfail(UID_BACKEND, strict=True, reason=f"the uid sandbox cannot {what} (docs/security.md)")

ACT = "activation.py"
ALL_ACT = {"small-vector", "zero-d-array", "matrix", "random-arrays", "large-magnitudes"}
SD, NET, IDX, DIG = "steepest_descent.py", "tinynet.py", "mnist_idx.py", "digits_network.py"
ALL_SD = {"grad-seed-start", "grad-random", "exact-step-seed-start", "exact-step-random",
          "path-seed-start", "path-random"}
PATHS = {"path-seed-start", "path-random"}
ALL_FWD = {"forward-batch-2-one-hot", "forward-one-hot", "forward-integer-labels", "forward-batch-1"}
ALL_BWD = {"backward-batch-2-one-hot", "backward-one-hot", "backward-integer-labels"}
PLAIN_SGD = {"sgd-batch-2", "sgd-random"}
DECAY = {"sgd-weight-decay-batch-2", "sgd-weight-decay", "sgd-weight-decay-keyword"}
ALL_SGD = PLAIN_SGD | DECAY | {"arguments-unchanged"}
ALL_IDX = {"labels-small", "labels-random", "images-small", "images-random", "images-mnist-size"}
ALL_DIG = {"labels-small", "labels-random", "labels-mnist-size", "layers-small", "layers-random"}
STAGES = {"steepest-descent": ALL_SD, "tinynet-forward": ALL_FWD, "tinynet-backward": ALL_BWD,
          "tinynet-sgd": ALL_SGD, "mnist-idx": ALL_IDX, "digits-forward": ALL_DIG}
L2 = "l2_regularization.py"
ES = "early_stopping.py"
DS = "data_split.py"
ALL_10 = {"net-architecture", "net-forward", "net-forward-hidden", "optimizer-adam", "l2-penalty-value",
          "l2-penalty-hidden", "l2-penalty-weights-only", "l2-penalty-differentiable", "train-epoch", "train-loss-falls"}
ALL_11 = {"min-mode-fixed", "max-mode-fixed", "ties-fixed", "min-mode-random", "max-mode-random", "dict-metrics",
          "defaults", "state-dict-round-trip", "reset", "module-early-stop"}
ALL_12 = {"seed-example", "partition", "train-size", "caller-unchanged", "seed-agreement", "default-ratio",
          "item-types"}
BEGIN, END = "# ********** Begin **********", "# ********** End **********"

def replace_once(text: str, old: str, new: str, count: int = 1) -> str:
    assert old in text, old
    return text.replace(old, new, count)


def hints_of(stage: dict, names) -> list[str]:
    return [case(stage, n)["hint"] or "" for n in sorted(names)]


def blank_blocks(text: str) -> tuple[str, list[str]]:
    """The text with every Begin/End block's body cut out, and the bodies."""
    out, bodies, body = [], [], None
    for line in text.split("\n"):
        if line.strip() == END:
            bodies.append("\n".join(body))
            body = None
        if body is not None:
            body.append(line)
            continue
        out.append(line)
        if line.strip() == BEGIN:
            body = []
    assert body is None, "unclosed Begin block"
    return "\n".join(out), bodies


def needs_torch():
    pytest.importorskip("torch")


# --- metrics.py variants (stage 5), for the engine's own tests ---------------------------

MET = "metrics.py"
RMSE = "RMSE = np.sqrt(error.dot(error) / count)"
RMSE_CASES = {"rmse-small", "single-rating", "random-rmse", "integer-ratings"}


def body(rmse_line: str) -> str:
    return variant(MET, "RMSE = np.sqrt(error.dot(error) / count)", rmse_line)


def tree_digest(folder: Path) -> str:
    """A hash of every path and file under `folder` (to check that nothing changed)."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


# --- headless Chromium (the browser tests) ----------------------------------------------

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def chromium_browser(width: int = 1280, height: int = 1000):
    """A headless Chromium driver (a generator: use it as a fixture's body); skips the test with the
    reason when Chromium, its driver or selenium is missing or does not start."""
    import shutil
    import tempfile

    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.skip("headless Chromium is not installed (apt-get install -y chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(options=opts, service=Service(str(CHROMEDRIVER)))
    except Exception as e:  # a broken install is a skip, not a failure of the page under test
        shutil.rmtree(profile, ignore_errors=True)
        pytest.skip(f"headless Chromium did not start: {e}")
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
