"""The fork server's stand-in for ``torch._dynamo`` (grader/sandbox/child.py ``defer_dynamo``).

Building or stepping an optimizer makes torch import ``torch._dynamo`` (about 1 s of every
student's sandbox) only to call two functions that do nothing while nothing is compiled.
These tests check that training gives the same numbers without it, that nothing the
course's stage 10 does imports it for real, and that ``torch.compile`` still works.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import failed, grade_stage, variant
from helpers import L2, needs_torch

GRADER = Path(__file__).resolve().parents[2] / "grader" / "sandbox"

TRAIN = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
if sys.argv[2] == "placeholder":
    from child import defer_dynamo
    defer_dynamo()
import torch
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
x, y = torch.randn(8, 3), torch.tensor([0, 1] * 4)
losses = []
for opt in (torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3),
            torch.optim.Adam(net.parameters(), weight_decay=1e-3)):
    for _ in range(3):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    opt.load_state_dict(opt.state_dict())
for _ in torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4, shuffle=True):
    pass
real = hasattr(sys.modules["torch._dynamo"], "__file__")
compiled = None
if sys.argv[3] == "compile":
    compiled = torch.compile(lambda a: (a * 2).sum(), backend="eager")(torch.ones(3)).item()
    opt.step()
print(json.dumps({"losses": losses, "real_before_compile": real, "compiled": compiled,
                  "real_after": hasattr(sys.modules["torch._dynamo"], "__file__")}))
"""


def _train(mode: str, compile_: bool = False) -> dict:
    out = subprocess.run([sys.executable, "-c", TRAIN, str(GRADER), mode, "compile" if compile_ else "-"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_training_gives_the_same_numbers_without_importing_dynamo():
    needs_torch()
    plain, deferred = _train("plain"), _train("placeholder")
    assert plain["real_before_compile"] is True  # what torch does by itself: the cost we avoid
    assert deferred["real_before_compile"] is False
    assert deferred["losses"] == plain["losses"]  # bit for bit


def test_torch_compile_still_works_and_brings_in_the_real_dynamo():
    needs_torch()
    got = _train("placeholder", compile_=True)
    assert got["compiled"] == 6.0
    assert got["real_after"] is True
    assert got["losses"] == _train("plain")["losses"]


CHECK = '''
    import sys as _sys
    if hasattr(_sys.modules.get("torch._dynamo"), "__file__"):
        raise RuntimeError("torch._dynamo was imported for real")
    return losses
'''


def test_stage_10_in_its_sandbox_never_imports_dynamo(sub):
    """The reference's train() fails if the real torch._dynamo is loaded by then: it must keep every point."""
    needs_torch()
    src = variant(L2, "        losses.append(loss.item())\n    return losses\n",
                  "        losses.append(loss.item())\n" + CHECK.lstrip("\n"))
    stage = grade_stage(sub({L2: src}), 10)
    assert stage["score"] == stage["max_score"], failed(stage)
