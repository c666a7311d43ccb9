"""The class overview as a person sees it, in headless Chromium.

Grades a small generated class, opens index.html and a student's report from disk
(file:// URLs) and checks what is on screen: histograms drawn with visible bars, the
hardest case listed first, links that resolve to files and open the student's page, no
console errors. Screenshots go to tests/artifacts/ (git-ignored).

Needs Debian's `chromium` and `chromium-driver` and the `selenium` package; skipped
with the reason when one is missing.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = ROOT / "tests" / "artifacts"

if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
    pytest.skip("headless Chromium is not installed (apt-get install -y chromium chromium-driver)",
                allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from grader.batch import run_batch  # noqa: E402
from test_batch import make_class, make_test_course  # noqa: E402


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    course = make_test_course(tmp_path_factory.mktemp("course"))
    class_dir = make_class(tmp_path_factory.mktemp("c") / "class",
                           {"alice": "correct", "bob": "alt-and", "carol": "partial", "dave": "syntax-error",
                            "Zoë Chen": "correct", "tom": "template", "nina": "empty"})
    with __import__("zipfile").ZipFile(class_dir / "judy.zip", "w") as z:
        z.writestr("../../evil.py", "x = 1\n")
    out = {}
    for lang in ("en", "zh"):
        res = run_batch(class_dir, class_dir.parent / f"grades-{lang}", course_dir=course, jobs=2, seed=11,
                        lang=lang, quiet=True)
        out[lang] = res.out_dir
    return out


@pytest.fixture(scope="module")
def browser():
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", "--window-size=1280,1600"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(options=opts, service=Service(str(CHROMEDRIVER)))
    except Exception as e:  # a broken install is a skip, not a failure of the overview
        shutil.rmtree(profile, ignore_errors=True)
        pytest.skip(f"headless Chromium did not start: {e}")
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _errors(driver) -> list:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def _shot(driver, name: str) -> Path:
    try:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
    except OSError:
        path = Path(tempfile.mkdtemp()) / name
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def test_overview_as_seen_in_a_browser(outputs, browser):
    out = outputs["en"]
    browser.get((out / "index.html").as_uri())
    assert browser.find_element(By.TAG_NAME, "h1").text == "Class overview"

    # Histograms: one for the total and one per stage, each with visible bars.
    figures = browser.find_elements(By.CSS_SELECTOR, "#distribution ~ .hists figure")
    assert len(figures) == 6
    for fig in figures:
        svg = fig.find_element(By.CSS_SELECTOR, "svg.hist")
        assert svg.size["width"] > 100 and svg.size["height"] > 50 and svg.is_displayed()
        bars = svg.find_elements(By.CSS_SELECTOR, "rect.bar")
        assert len(bars) >= 2
        drawn = [b for b in bars if float(b.get_attribute("height")) > 0]
        assert drawn and all(b.rect["height"] > 0 for b in drawn)
        counted = sum(int(b.get_attribute("data-count")) for b in bars)
        assert counted >= 1
    total_bars = figures[0].find_elements(By.CSS_SELECTOR, "rect.bar")
    graded = sum(int(b.get_attribute("data-count")) for b in total_bars)
    doc = json.loads((out / "gradebook.json").read_text(encoding="utf-8"))
    assert graded == sum(1 for s in doc["students"] if any(v is not None for v in s["scores"].values()))

    # The hardest case first: the lowest pass rate, computed from the gradebook itself.
    rates: dict[tuple, list] = {}
    for s in doc["students"]:
        for st in (s["report"] or {}).get("stages", []):
            if s["scores"][str(st["number"])] is None:
                continue  # not handed in: 0 of its points in the report, but not an attempt
            for c in st["cases"]:
                rates.setdefault((st["number"], c["name"]), []).append(c["status"] == "passed")
    lowest = min(sum(v) / len(v) for v in rates.values())
    rows = browser.find_elements(By.CSS_SELECTOR, "#case-table tbody tr")
    assert len(rows) == len(rates)
    first_case = rows[0].find_element(By.CSS_SELECTOR, ".case-name").text.split()[0]
    first_stage = int(rows[0].find_element(By.TAG_NAME, "td").text.split()[0])
    got = rates[(first_stage, first_case)]
    assert sum(got) / len(got) == lowest
    shown = [float(r.get_attribute("data-rate")) for r in rows]
    assert shown == sorted(shown)

    # The known mistake that carol made is listed with a count.
    hints = browser.find_element(By.ID, "hint-table").text
    assert "seed-rmse-formula" in hints

    # Every student link resolves to a file on disk.
    links = browser.find_elements(By.CSS_SELECTOR, "a.student-link")
    assert len(links) == len(doc["students"])
    for a in links:
        path = Path(unquote(urlparse(a.get_attribute("href")).path))
        assert path.is_file(), path
    assert _errors(browser) == []
    _shot(browser, "overview.png")

    # Clicking a student opens their report, which links back.
    carol = next(a for a in links if a.text == "carol")
    carol.click()
    assert browser.current_url.endswith("/students/carol.html")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "MAE" in body and "carol" in body
    assert _errors(browser) == []
    _shot(browser, "student.png")
    browser.find_element(By.PARTIAL_LINK_TEXT, "Back to the class overview").click()
    assert browser.current_url.endswith("/index.html")

    # A non-ASCII id links correctly, and a student whose zip was refused has a page too.
    browser.get((out / "index.html").as_uri())
    browser.find_element(By.LINK_TEXT, "Zoë Chen").click()
    assert "Zo" in browser.find_element(By.TAG_NAME, "body").text
    browser.get((out / "index.html").as_uri())
    browser.find_element(By.LINK_TEXT, "judy").click()
    assert "unpack failed" in browser.find_element(By.TAG_NAME, "body").text
    assert _errors(browser) == []


def test_overview_in_chinese(outputs, browser):
    browser.get((outputs["zh"] / "index.html").as_uri())
    assert browser.find_element(By.TAG_NAME, "h1").text == "班级概览"
    assert "最难" in browser.find_element(By.ID, "cases").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.hist rect.bar")) > 0
    assert _errors(browser) == []
    _shot(browser, "overview-zh.png")


# --------------------------------------------------------------------------- who got what, at 1280 px

LONG_REASON = ("stage 7 tinynet-forward: tinynet.py raised ValueError: shapes (3,5) and (4,2) not aligned: "
               "5 (dim 1) != 4 (dim 0) while computing the hidden layer of the network for the second batch; "
               "stage 9 tinynet-sgd: time limit of 20 s exceeded")


def _big_class(course) -> tuple[list, dict, list]:
    """40 students over every stage of the bundled course, long names and long reasons."""
    from grader.batch.rows import summarize
    from grader.verdict import Report

    columns = list(course.stages)
    stage_max = {s.number: s.max_score for s in columns}
    rows, reports = [], {}
    for i in range(40):
        stages = []
        for s in columns:
            cases = [{"name": c.name, "status": "passed" if (i + j + s.number) % 3 else "failed",
                      "score": c.points if (i + j + s.number) % 3 else 0.0, "max_score": c.points,
                      "hidden": c.hidden, "message": "" if (i + j + s.number) % 3 else "expected 1.0, got 2.0"}
                     for j, c in enumerate(s.cases)]
            stages.append({"number": s.number, "slug": s.slug, "title": s.title.en, "status": "failed",
                           "score": sum(c["score"] for c in cases), "max_score": s.max_score, "cases": cases})
        report = {"submission": "x", "seed": 1, "lang": "en", "stages": stages}
        sid = f"student {39 - i:02d} Maximilian-Alexander Zhang-Featherstonehaugh"
        row = {"id": sid, "file": f"s{i}", "max": sum(stage_max.values()), "cached": False,
               **summarize(Report.from_dict(report), stage_max)}
        if i % 4 == 0:
            row.update(status="error", reason=LONG_REASON)
        rows.append(row)
        reports[row["file"]] = Report.from_dict(report)
    return rows, reports, columns


def test_student_table_first_and_fits_1280(browser, tmp_path):
    from grader.batch.overview import render_overview
    from grader.course.folder import load_course

    rows, reports, columns = _big_class(load_course(None))
    assert len(columns) >= 14
    page = tmp_path / "index.html"
    page.write_text(render_overview(rows, reports, columns, lang="en", seed=1), encoding="utf-8")
    browser.set_window_size(1280, 800)
    try:
        browser.get(page.as_uri())
        view = browser.execute_script("return [window.innerWidth, window.innerHeight]")
        assert 1200 <= view[0] <= 1280, view
        table = browser.find_element(By.ID, "student-table")
        top = browser.execute_script("return arguments[0].getBoundingClientRect().top + window.scrollY", table)
        assert top < 2 * view[1], (top, view)  # within the first two screens
        # ... and before the distribution, the per-case table and the failure analysis
        for later in ("distribution", "cases", "failures"):
            y = browser.execute_script("return document.getElementById(arguments[0]).getBoundingClientRect().top"
                                       " + window.scrollY", later)
            assert top < y, later
        doc = browser.execute_script("return [document.documentElement.scrollWidth,"
                                     " document.documentElement.clientWidth]")
        assert doc[0] <= doc[1], f"horizontal overflow: {doc}"
        wrap = browser.execute_script("return [arguments[0].parentElement.scrollWidth,"
                                      " arguments[0].parentElement.clientWidth]", table)
        assert wrap[0] <= wrap[1], f"the table scrolls sideways: {wrap}"
        # Stuck students first (lowest share of the maximum); "by name" orders by name; total
        # first, then one column per stage, then status and reason.
        totals = [float(td.text) for td in table.find_elements(By.CSS_SELECTOR, "tbody td.total")]
        assert totals == sorted(totals) and len(totals) == 40
        browser.find_element(By.CSS_SELECTOR, '#sorts button[data-sort="name"]').click()
        names = [a.text for a in table.find_elements(By.CSS_SELECTOR, "a.student-link")]
        assert names == sorted(names, key=str.casefold) and len(names) == 40
        heads = table.find_elements(By.CSS_SELECTOR, "thead th")
        assert heads[1].text.startswith("Total") and len(heads) == 2 + len(columns) + 2
        # A long reason is cut on the page; the full text is in its title (and on the student's page).
        cut = table.find_element(By.CSS_SELECTOR, "td.reason[title]")
        assert cut.get_attribute("title") == LONG_REASON
        assert browser.execute_script("return arguments[0].scrollWidth > arguments[0].clientWidth", cut)
        assert cut.size["height"] < 40  # one line
        assert _errors(browser) == []
        _shot(browser, "overview-1280.png")
    finally:
        browser.set_window_size(1280, 1600)


def test_full_marks_have_their_own_bar(outputs, browser):
    """alice and Zoë have every point: the total's last bar is 100% and holds exactly them."""
    out = outputs["en"]
    browser.get((out / "index.html").as_uri())
    doc = json.loads((out / "gradebook.json").read_text(encoding="utf-8"))
    full = sum(1 for s in doc["students"] if s["report"] and s["total"] == s["max"])
    assert full == 2
    bars = browser.find_elements(By.CSS_SELECTOR, "#hist-total rect.bar")
    assert bars[-1].get_attribute("data-label") == "100" and int(bars[-1].get_attribute("data-count")) == full
    # The student table comes before the histograms; nothing scrolls sideways at 1280 px.
    assert browser.find_element(By.ID, "student-table").location["y"] < \
        browser.find_element(By.ID, "hist-total").location["y"]
    width = browser.execute_script("return [window.innerWidth, document.documentElement.scrollWidth,"
                                   " document.documentElement.clientWidth]")
    assert width[0] <= 1280 and width[1] <= width[2], width


# --------------------------------------------------------------------------- a teacher's desk and a phone

WIDTHS = (1280, 390)


def _overflow(browser) -> list:
    """[scrollWidth, clientWidth] of the page: the first larger means the page scrolls sideways."""
    return browser.execute_script("return [document.documentElement.scrollWidth,"
                                  " document.documentElement.clientWidth]")


def _share(row) -> float:
    total = float(row.find_element(By.CSS_SELECTOR, "td.total").text)
    return total / float(row.get_attribute("data-max"))


@pytest.mark.parametrize("width", WIDTHS)
def test_overview_stuck_first_coloured_by_score_at(outputs, browser, width):
    out = outputs["en"]
    browser.set_window_size(width, 900)
    try:
        browser.get((out / "index.html").as_uri())
        assert browser.execute_script("return window.innerWidth") <= width
        doc = _overflow(browser)
        assert doc[0] <= doc[1], f"horizontal overflow at {width} px: {doc}"
        rows = browser.find_elements(By.CSS_SELECTOR, "#student-table tbody tr")
        by = {r.get_attribute("data-student"): r for r in rows}
        # who is stuck comes first: nothing handed in, the untouched template, then by share of the maximum
        order = [r.get_attribute("data-student") for r in rows]
        assert order[:2] == ["nina", "tom"], order
        shares = [_share(r) for r in rows]
        assert shares == sorted(shares) and shares[0] == 0 and shares[-1] == 1
        status = {k: r.find_elements(By.TAG_NAME, "td")[-2].text for k, r in by.items()}
        assert status["nina"] == "not handed in" and status["tom"] == "not started"
        assert status["alice"] == "graded" and status["dave"] == "error (student's code)"
        assert status["judy"] == "error (student's code)"  # her zip tried to escape its folder
        # an untouched template (0) is not coloured like full marks
        colour = {k: by[k].find_element(By.CSS_SELECTOR, "td.total").value_of_css_property("background-color")
                  for k in ("alice", "tom", "carol")}
        assert len(set(colour.values())) == 3, colour
        rgb = [int(x) for x in colour["alice"].split("(")[1].split(")")[0].split(",")[:3]]
        assert rgb[1] > rgb[0] and rgb[1] > rgb[2]  # full marks green
        # sorted by a stage: its lowest share first, those who did not hand it in on top
        browser.find_element(By.CSS_SELECTOR, '#sorts button[data-sort="s5"]').click()
        rows = browser.find_elements(By.CSS_SELECTOR, "#student-table tbody tr")
        keys = [float(r.get_attribute("data-s5")) for r in rows]
        assert keys == sorted(keys) and rows[-1].get_attribute("data-s5") == "1.000000"
        assert _errors(browser) == []
        _shot(browser, f"overview-{width}.png")
    finally:
        browser.set_window_size(1280, 1600)


@pytest.mark.parametrize("width", WIDTHS)
def test_student_report_fits_and_hides_hidden_inputs_at(outputs, browser, width):
    """carol's page: every stage of the gradebook; nothing scrolls sideways; a hidden case shows
    no call, inputs or expected value (its note says so), a visible one does."""
    out = outputs["en"]
    doc = json.loads((out / "gradebook.json").read_text(encoding="utf-8"))
    carol = next(s for s in doc["students"] if s["id"] == "carol")["report"]
    hidden = {c["name"] for st in carol["stages"] for c in st["cases"] if c["hidden"] and c["status"] != "passed"}
    visible = {c["name"] for st in carol["stages"] for c in st["cases"] if not c["hidden"] and c["status"] != "passed"}
    assert hidden and visible
    browser.set_window_size(width, 900)
    try:
        browser.get((out / "students" / "carol.html").as_uri())
        doc_w = _overflow(browser)
        assert doc_w[0] <= doc_w[1], f"horizontal overflow at {width} px: {doc_w}"
        for case in browser.find_elements(By.CSS_SELECTOR, "details.case"):
            name = case.find_element(By.CSS_SELECTOR, ".name").text
            terms = {dt.get_attribute("textContent").strip() for dt in case.find_elements(By.TAG_NAME, "dt")}
            if name in hidden and case.find_elements(By.CSS_SELECTOR, ".hidden-note"):
                assert not terms & {"call", "expected", "x", "pred", "actual"}, (name, terms)
            for pre in case.find_elements(By.TAG_NAME, "pre"):  # code wraps or scrolls inside its box
                assert browser.execute_script(
                    "var r = arguments[0].getBoundingClientRect(); return r.right <= window.innerWidth + 1", pre)
        shown_visible = [c for c in browser.find_elements(By.CSS_SELECTOR, "details.case")
                         if c.find_element(By.CSS_SELECTOR, ".name").text in visible]
        assert any("expected" in {dt.get_attribute("textContent").strip() for dt in c.find_elements(By.TAG_NAME, "dt")}
                   for c in shown_visible)
        assert _errors(browser) == []
        _shot(browser, f"student-{width}.png")
    finally:
        browser.set_window_size(1280, 1600)
