"""The action's first step on a runner that restricts user namespaces (Ubuntu 24.04).

The step's `run:` block runs as written, with `sudo` replaced by a script that only records
what it was asked (nothing on this machine is changed), and the setting it reads
(`kernel.apparmor_restrict_unprivileged_userns`) taken from a file the test writes. The
profile it writes is then compiled by AppArmor 4's own parser (`apparmor_parser -Q -K`):
Debian 13's, which .ci/run unpacks to .ci/cache/apparmor4 (Debian 12's parser is 3.0 and
knows neither `abi <abi/4.0>` nor the `userns` rule), or the machine's when it is 4.x.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

CACHED_PARSER = ROOT / ".ci" / "cache" / "apparmor4" / "apparmor_parser"
# What the action wrote before: `include` takes no comma, so the parser stops at line 2.
OLD_PROFILE = "abi <abi/4.0>,\ninclude <tunables/global>,\nprofile grade-bwrap /usr/bin/bwrap flags=(unconfined) {\n  userns,\n}\n"


def _version(parser: str) -> tuple[int, ...]:
    out = subprocess.run([parser, "--version"], capture_output=True, text=True, timeout=30).stdout
    found = re.search(r"version (\d+)\.(\d+)", out)
    return tuple(int(x) for x in found.groups()) if found else ()


@pytest.fixture(scope="module")
def parser() -> str:
    """An AppArmor 4 parser: the one .ci/run unpacks, else the machine's if it is 4.x."""
    for candidate in (str(CACHED_PARSER) if CACHED_PARSER.exists() else None, shutil.which("apparmor_parser")):
        if candidate and _version(candidate) >= (4, 0):
            return candidate
    why = "no AppArmor 4 parser: run .ci/run's AppArmor block (it unpacks Debian 13's to .ci/cache/apparmor4)"
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


def compile_profile(parser: str, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([parser, "-Q", "-K", str(path)], capture_output=True, text=True, timeout=60)


def run_first_step(tmp_path: Path, restricted: str, parser_fails: bool = False) -> tuple[subprocess.CompletedProcess, list[str]]:
    """The action's first `run:` block; (its result, the sudo commands it asked for)."""
    step = yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"][0]
    assert "apparmor" in step["run"]
    fake = tmp_path / "bin"
    fake.mkdir()
    log = tmp_path / "sudo.log"
    (fake / "sudo").write_text('#!/bin/sh\necho "$*" >> "$SUDO_LOG"\n'
                               '[ "$1" = apparmor_parser ] && [ "$PARSER_FAILS" = 1 ] && exit 1\nexit 0\n')
    (fake / "bwrap").write_text("#!/bin/sh\nexit 0\n")  # where the step finds bwrap: named in the profile
    for script in fake.iterdir():
        script.chmod(0o755)
    setting = tmp_path / "apparmor_restrict_unprivileged_userns"
    setting.write_text(restricted + "\n")
    temp = tmp_path / "runner-temp"
    temp.mkdir()
    env = {"PATH": f"{fake}:{os.environ['PATH']}", "HOME": str(tmp_path), "RUNNER_TEMP": str(temp),
           "GRADE_USERNS_RESTRICT": str(setting), "SUDO_LOG": str(log), "PARSER_FAILS": "1" if parser_fails else "0"}
    proc = subprocess.run(["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=60)
    return proc, log.read_text().splitlines() if log.exists() else []


def test_the_profile_the_action_writes_parses_with_apparmor_4(tmp_path, parser):
    proc, sudo = run_first_step(tmp_path, "1")
    assert proc.returncode == 0, proc.stderr
    profile = tmp_path / "runner-temp" / "grade-bwrap.apparmor"
    assert sudo == [f"install -m 0644 {profile} /etc/apparmor.d/grade-bwrap",
                    "apparmor_parser -r /etc/apparmor.d/grade-bwrap"]  # no sysctl: the profile is enough
    assert "AppArmor profile grade-bwrap loaded" in proc.stdout and "::warning" not in proc.stdout
    text = profile.read_text()
    assert f"profile grade-bwrap {tmp_path / 'bin' / 'bwrap'} flags=(unconfined) {{" in text
    assert re.search(r"^\s*userns,$", text, re.M)  # the one permission it grants
    compiled = compile_profile(parser, profile)
    assert compiled.returncode == 0, compiled.stderr
    # the parser does reject a broken profile: the text the action wrote before
    old = tmp_path / "old.apparmor"
    old.write_text(OLD_PROFILE)
    rejected = compile_profile(parser, old)
    assert rejected.returncode != 0 and "line 2" in rejected.stderr and "syntax error" in rejected.stderr


def test_the_sysctl_is_the_last_resort_and_the_log_says_so(tmp_path):
    proc, sudo = run_first_step(tmp_path, "1", parser_fails=True)
    assert proc.returncode == 0, proc.stderr
    assert sudo[-1] == "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"
    assert sudo[:-1] == [f"install -m 0644 {tmp_path / 'runner-temp' / 'grade-bwrap.apparmor'} "
                         "/etc/apparmor.d/grade-bwrap", "apparmor_parser -r /etc/apparmor.d/grade-bwrap"]
    warning = [line for line in proc.stdout.splitlines() if line.startswith("::warning title=grade sandbox::")]
    assert len(warning) == 1 and "last resort" in warning[0] and "apparmor_restrict_unprivileged_userns=0" in warning[0]


def test_nothing_is_changed_where_user_namespaces_are_not_restricted(tmp_path):
    proc, sudo = run_first_step(tmp_path, "0")
    assert proc.returncode == 0 and sudo == [] and proc.stdout == ""
    assert not (tmp_path / "runner-temp" / "grade-bwrap.apparmor").exists()
