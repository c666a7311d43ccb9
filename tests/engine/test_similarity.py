"""`grade batch --similarity`: the copied pair is found (renamed variables, reordered
functions), the independent student is not; the template's lines neither count nor show as
matching; the page opens with a ranked table, details on demand, bounded in size; the overview
links it; also in headless Chromium when it is installed."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from grader.batch import main as batch_main
from grader.batch.similarity import find_pairs, render_page

ROOT = Path(__file__).resolve().parents[2]
FILE = "steepest_descent.py"
STUBS = {
    "grad(x)": "    a, b = float(x[0]), float(x[1])\n    return np.array([a * 4, b * 2])",
    "exact_step(x, p)": ("    gx = grad(x)\n    num = -(gx[0] * p[0] + gx[1] * p[1])\n"
                         "    den = 4 * p[0] ** 2 + 2 * p[1] ** 2\n    return max(num / den, 0.0) if den else 0.0"),
    "steepest_descent(x0, theta)": ("    points = [np.array(x0, dtype=float)]\n    for _ in range(10000):\n"
                                    "        d = -grad(points[-1])\n        if np.linalg.norm(d) <= theta:\n"
                                    "            break\n        points.append(points[-1] + exact_step(points[-1], d) * d)\n"
                                    "    return points"),
}


def copied(source: str) -> str:
    """The reference with its variables renamed and its functions in reverse order."""
    for old, new in (("path", "trajectory"), ("g = grad", "gv = grad"), ("grad_len(g)", "grad_len(gv)"),
                     ("p = -g", "p = -gv"), ("np.dot(g, p)", "np.dot(gv, p)"), ("t = exact_step", "step = exact_step"),
                     ("x + t * p", "x + step * p"), ("A = np.diag", "hessian = np.diag"), ("A @ p", "hessian @ p")):
        assert old in source, old
        source = source.replace(old, new)
    head, *defs = re.split(r"\n(?=def )", source)
    return head + "\n" + "\n".join(reversed(defs))


def own_work(template: str) -> str:
    """The template filled in by a student who wrote it differently."""
    for name, body in STUBS.items():
        template, n = re.subn(rf'    raise NotImplementedError\("{re.escape(name)} is not implemented yet[^\n]*',
                              lambda _m, b=body: b, template)
        assert n == 1, name
    return template


@pytest.fixture(scope="module")
def class_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sim") / "class"
    ref = (ROOT / "reference" / FILE).read_text(encoding="utf-8")
    files = {"alice": ref, "bob": copied(ref),
             "carol": own_work((ROOT / "student_template" / FILE).read_text(encoding="utf-8"))}
    for sid, text in files.items():
        (root / sid).mkdir(parents=True)
        (root / sid / FILE).write_text(text, encoding="utf-8")
    return root


def test_copied_pair_found_and_not_the_third(class_dir):
    students = [(p.name, p) for p in sorted(class_dir.iterdir())]
    pairs = find_pairs(students, ROOT / "student_template", [FILE])
    assert [(p.a, p.b) for p in pairs] == [("alice", "bob")]
    assert pairs[0].score >= 0.6 and "<mark>" in pairs[0].html_a and "<mark>" in pairs[0].html_b
    # the template alone is boilerplate: two students who only handed in the template match nothing
    blank = [(n, ROOT / "student_template") for n in ("x", "y")]
    assert find_pairs(blank, ROOT / "student_template", [FILE], threshold=0.01) == []


def test_page_escapes_code(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    text = "def f(x):\n    s = '<script>alert(1)</script>'\n" + "".join(
        f"    x = x * {i} + (x - {i}) / 2\n" for i in range(30)) + "    return x, s\n"
    for folder in (a, b):
        folder.mkdir()
        (folder / "m.py").write_text(text, encoding="utf-8")
    pairs = find_pairs([("a", a), ("b", b)], None, ["m.py"])
    page = render_page(pairs, ["m.py"], 0.6)
    assert len(pairs) == 1 and "<script>alert" not in page and "&lt;script&gt;alert" in page


def test_batch_writes_similarity_page_linked_from_the_overview(class_dir, tmp_path):
    out = tmp_path / "grades"
    assert batch_main([str(class_dir), "--out", str(out), "--stage", "6", "--similarity", "-q", "--jobs", "2"]) == 0
    page = (out / "similarity.html").read_text(encoding="utf-8")
    assert page.count('class="pair"') == 1 and 'data-a="alice" data-b="bob"' in page
    summary = page.split('id="summary"')[1].split("</table>")[0]
    assert summary.count("<tr data-a=") == 1 and 'href="#pair-1"' in summary  # the ranked table first
    assert page.index('id="summary"') < page.index('<details class="pair"')
    assert "a signal for a human" in page
    overview = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="similarity.html"' in overview and "not a verdict" in overview


CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.mark.skipif(not CHROMIUM.exists() or not CHROMEDRIVER.exists(),
                    reason="headless Chromium is not installed (apt-get install -y chromium chromium-driver)")
def test_similarity_page_in_chromium(class_dir, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    out = tmp_path / "grades"
    assert batch_main([str(class_dir), "--out", str(out), "--stage", "6", "--similarity", "-q", "--jobs", "2"]) == 0
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                f"--user-data-dir={profile}", "--window-size=1400,1200"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(options=opts, service=Service(str(CHROMEDRIVER)))
    except Exception as e:  # a broken install is a skip, not a failure of the page
        shutil.rmtree(profile, ignore_errors=True)
        pytest.skip(f"headless Chromium did not start: {e}")
    try:
        driver.get((out / "index.html").as_uri())
        driver.find_element(By.CSS_SELECTOR, "#similarity-link a").click()
        assert driver.current_url.endswith("/similarity.html")
        assert "not a verdict" in driver.find_element(By.ID, "signal").text
        rows = driver.find_elements(By.CSS_SELECTOR, "#summary tbody tr")
        assert len(rows) == 1 and "alice · bob" in rows[0].text
        assert "carol" not in driver.find_element(By.TAG_NAME, "main").text
        pairs = driver.find_elements(By.CSS_SELECTOR, ".pair")
        assert len(pairs) == 1 and not pairs[0].find_element(By.CSS_SELECTOR, ".side pre").is_displayed()
        rows[0].find_element(By.CSS_SELECTOR, "a").click()  # details on demand: the link leads to them ...
        assert driver.current_url.endswith("#pair-1")
        pairs[0].find_element(By.TAG_NAME, "summary").click()  # ... and they open (no script: a CSP may forbid it)
        sides = pairs[0].find_elements(By.CSS_SELECTOR, ".side pre")
        assert len(sides) == 2 and sides[0].location["x"] < sides[1].location["x"]  # side by side
        marks = pairs[0].find_elements(By.TAG_NAME, "mark")
        assert marks and all(m.is_displayed() for m in marks[:3])
        assert not [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_the_same_pairs_whatever_the_hash_seed(tmp_path):
    """copydetect hashes k-grams with Python's hash(), which PYTHONHASHSEED changes: the same
    class once gave 0, 95 % and 0 pairs. The pairs and shares are the same under 5 seeds."""
    import os
    import subprocess
    import sys

    base = (ROOT / "reference" / "metrics.py").read_text(encoding="utf-8")
    for sid, extra in (("ann", ""), ("ben", "\n\ndef helper(v):\n    return v * 2\n"), ("cat", "\n# mine\n")):
        (tmp_path / sid).mkdir()
        (tmp_path / sid / "metrics.py").write_text(base + extra, encoding="utf-8")
    (tmp_path / "dan").mkdir()
    (tmp_path / "dan" / "metrics.py").write_text("import numpy as np\n\nprint(np.arange(3))\n", encoding="utf-8")
    script = ("import json, sys\nfrom pathlib import Path\nfrom grader.batch.similarity import find_pairs\n"
              "root = Path(sys.argv[1])\n"
              "pairs = find_pairs([(s, root / s) for s in ('ann', 'ben', 'cat', 'dan')], None, ['metrics.py'])\n"
              "print(json.dumps([(p.a, p.b, round(p.score, 6)) for p in pairs]))\n")
    seen = set()
    for seed in ("1", "2", "3", "4", "5"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(ROOT))
        out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=env, capture_output=True,
                             text=True, timeout=120, check=True).stdout
        seen.add(out)
    assert len(seen) == 1
    pairs = json.loads(seen.pop())
    assert {(a, b) for a, b, _ in pairs} >= {("ann", "ben"), ("ann", "cat"), ("ben", "cat")}
    assert not any("dan" in (a, b) for a, b, _ in pairs)


def test_template_lines_neither_count_nor_show(class_dir):
    """alice and bob both keep the template's docstrings, Begin/End markers and main block:
    none of those lines is marked, and what is marked is each one's own code."""
    from grader.batch.similarity import own_code

    template = (ROOT / "student_template" / FILE).read_text(encoding="utf-8")
    students = [(p.name, p) for p in sorted(class_dir.iterdir())]
    pair = find_pairs(students, ROOT / "student_template", [FILE])[0]
    for sid, shown in (("alice", pair.html_a), ("bob", pair.html_b)):
        code = own_code((class_dir / sid / FILE).read_text(encoding="utf-8"), template)
        lines = shown.split("\n")
        marked = {i for i, line in enumerate(lines) if line.startswith("<mark>")}
        template_lines = {i for i, mine in enumerate(code.own) if not mine and code.lines[i].strip()}
        assert marked and template_lines and not marked & template_lines, sid
        assert "Begin" not in "".join(lines[i] for i in marked)
    # a student with only the template and one copied function is compared on that function only
    only = own_code(template, template)
    assert not any(only.own)


def test_page_is_bounded_and_ranked(tmp_path):
    """Many pairs: the table lists each one, most similar first; the code of the first DETAILED
    only, each side cut at SHOWN_LINES lines."""
    from grader.batch import similarity as sim

    body = "".join(f"    x = x * {i} + (x - {i}) / 2\n" for i in range(sim.SHOWN_LINES + 50))
    students = []
    for n in range(11):  # 55 pairs
        folder = tmp_path / f"s{n:02d}"
        folder.mkdir()
        extra = "".join(f"    y{n} = {n} * y{n} - {k}\n" for k in range(n * 3))
        (folder / "m.py").write_text(f"def f(x, y{n}):\n{body}{extra}    return x\n", encoding="utf-8")
        students.append((folder.name, folder))
    pairs = find_pairs(students, None, ["m.py"])
    assert len(pairs) == 55 and [p.score for p in pairs] == sorted((p.score for p in pairs), reverse=True)
    page = render_page(pairs, ["m.py"], 0.6, stages={"m.py": "1 m"})
    assert page.count("<tr data-a=") == 55 and page.count('<details class="pair"') == sim.DETAILED
    assert "15 more pairs" in page and "more lines not shown" in page and "(1 m)" in page
    assert len(page) < 55 * 2 * 1000 + sim.DETAILED * 2 * 60 * (sim.SHOWN_LINES + 5)
