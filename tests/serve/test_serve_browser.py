"""`grade serve` as people see it, in headless Chromium: a student signs in with her link,
edits stage 1 in the CodeMirror editor, presses Evaluate, watches each case's verdict arrive
without a reload (before the stage's and the final report), and gets the score `grade` gives the same file; the teacher's page,
open in another tab, updates without a reload.

Needs Debian's `chromium` and `chromium-driver` and selenium (skipped with the reason
when one is missing, as tests/engine/test_batch_overview_browser.py is).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from serve_fixtures import ROOT, make_server  # noqa: F401 (fixtures)

sys.path.insert(0, str(ROOT / "tests" / "engine"))
# the class overview's browser (headless Chromium; skips with the reason when it is missing)
from test_batch_overview_browser import browser  # noqa: E402,F401 (fixture)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

import sqlalchemy as sa  # noqa: E402

from grader.serve.db import connect, settings, sqlite_url  # noqa: E402

ANSWER = (ROOT / "reference" / "activation.py").read_text(encoding="utf-8")
PARTLY_WRONG = ANSWER.replace("np.exp(-x)", "np.exp(x)")


def _grade_score(tmp_path: Path, code: str, seed: str) -> float:
    """What `grade FILE --stage 1 --seed S --format json` says of the same file."""
    f = tmp_path / "cli" / "activation.py"
    f.parent.mkdir()
    f.write_text(code, encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "grader", str(f), "--stage", "1", "--seed", seed,
                          "--format", "json", "--course", str(ROOT)], capture_output=True, text=True, timeout=300)
    return json.loads(out.stdout)["stages"][0]["score"]


def test_a_student_submits_in_the_browser_and_the_class_page_follows(make_server, browser, tmp_path):
    url = sqlite_url(tmp_path / "serve.sqlite")
    server = make_server(url, ["alice", "bob"], "--rate", "1").start()  # one submission a minute each
    wait = WebDriverWait(browser, 120, poll_frequency=0.05)

    browser.get(f"{server.url}/teacher?token={server.tokens['(teacher)']}")
    wait.until(lambda d: d.execute_script("return document.body.dataset.updates") is not None)
    browser.execute_script("window.sameTeacherPage = true")
    teacher = browser.current_window_handle

    browser.switch_to.new_window("tab")
    browser.get(f"{server.url}/s/alice?token={server.tokens['alice']}")
    assert browser.current_url == f"{server.url}/s/alice"  # the token left the address bar for a cookie
    assert browser.find_elements(By.CSS_SELECTOR, ".CodeMirror")  # the vendored editor is on the page
    browser.execute_script("window.gradeEditor.setValue(arguments[0])", PARTLY_WRONG)
    browser.find_element(By.CSS_SELECTOR, ".CodeMirror textarea").send_keys("# typed in the browser </textarea></script> & <b>\n")
    code = browser.execute_script("return window.gradeEditor.getValue()")
    assert code.startswith("# typed in the browser </textarea></script> & <b>\n") and code.endswith(PARTLY_WRONG)

    browser.find_element(By.ID, "evaluate").click()
    wait.until(lambda d: "/r/" in d.current_url)
    browser.execute_script("window.samePage = true")
    wait.until(lambda d: d.find_element(By.ID, "status").get_attribute("data-state") == "graded")
    assert browser.execute_script("return window.samePage") is True  # no reload
    served = httpx.get(browser.current_url, cookies={c["name"]: c["value"] for c in browser.get_cookies()}).text
    assert '<tbody></tbody>' in served  # the page as served has no verdicts: they came by the stream
    rows = browser.find_elements(By.CSS_SELECTOR, "#cases tbody tr.case")
    statuses = [r.get_attribute("class").split()[-1] for r in rows]
    assert len(rows) == 5 and "failed" in statuses, statuses
    # each case's verdict came alone and was on the page before the stage's (which replaced them) and the end
    arrived = browser.execute_script("return window.gradeEvents")
    assert arrived == [["case", i] for i in range(5)] + [["stage", 5], ["final", 0]], arrived
    seed = connect(url).connect().scalar(sa.select(settings.c.value).where(settings.c.key == "seed"))
    expected = _grade_score(tmp_path, code, seed)
    assert browser.find_element(By.ID, "score").text == f"Score: {expected:g} / 9"
    frame = browser.find_element(By.CSS_SELECTOR, "#report iframe")
    browser.switch_to.frame(frame)
    wait.until(lambda d: "sigmoid" in d.find_element(By.TAG_NAME, "body").text)
    browser.switch_to.default_content()

    browser.get(f"{server.url}/s/alice")  # the editor keeps the code handed in, markup and all
    Select(browser.find_element(By.ID, "stage")).select_by_value("2")
    Select(browser.find_element(By.ID, "stage")).select_by_value("1")
    assert browser.execute_script("return window.gradeEditor.getValue()") == code
    assert "9" in browser.find_element(By.CSS_SELECTOR, "#stage-1 .latest").text

    browser.switch_to.window(teacher)
    cell = '#heat tr[data-student="alice"] td[data-stage="1"]'
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, cell).get_attribute("data-value") is not None)
    assert float(browser.find_element(By.CSS_SELECTOR, cell).get_attribute("data-value")) == round(expected / 9, 4)
    assert browser.execute_script("return window.sameTeacherPage") is True  # updated without a reload
    assert browser.find_element(By.CSS_SELECTOR, '.hist[data-stage="1"]')
    assert "first verdict" in browser.find_element(By.ID, "latency").text
    severe = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not severe, severe

    # a refused submission (her second in a minute) is said on her page; her code stays in the editor
    browser.switch_to.window([h for h in browser.window_handles if h != teacher][0])
    browser.execute_script("window.gradeEditor.setValue(arguments[0])", ANSWER)
    browser.execute_script("window.stayed = true")
    browser.find_element(By.ID, "evaluate").click()
    wait.until(lambda d: d.find_element(By.ID, "submit-message").text)
    assert "Too many submissions" in browser.find_element(By.ID, "submit-message").text
    assert browser.current_url == f"{server.url}/s/alice" and browser.execute_script("return window.stayed")
    assert browser.execute_script("return window.gradeEditor.getValue()") == ANSWER
