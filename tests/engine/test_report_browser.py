"""A student's HTML report as a person sees it, in headless Chromium at 1280 px and on a phone
(390 px): nothing overflows the page (long code wraps or scrolls inside its own block), a stage's
hint sits in its box, and what a hidden case printed is not on the page.

Needs Debian's `chromium` and `chromium-driver` (installed by .ci/run) and `selenium`; skipped
with the reason only where one is missing (a developer's machine).
"""

from __future__ import annotations

import pytest

from conftest import grader_for, make_submission, variant
from grader.report.html import render
from helpers import CHROMEDRIVER, CHROMIUM, chromium_browser

if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
    pytest.skip("headless Chromium is not installed (apt-get install -y chromium chromium-driver)",
                allow_module_level=True)
By = pytest.importorskip("selenium.webdriver.common.by", reason="selenium is not installed (pip install selenium)").By

LONG = "w" * 400  # one unbroken word, longer than any screen
PRINTS = (f"        print('visible', x.shape, '{LONG}')\n"
          "        if x.size > 12:\n"
          "            print('HIDDENMARK', x.ravel()[:3])\n")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    sigmoid = variant("activation.py", "        y = 1. / (1 + np.exp(-x))\n",
                      PRINTS + "        y = 1. / (1 + np.exp(-x)) + 0.5\n")
    mp = variant("mp_neuron.py", "    return np.where(x > 0, 1, 0)\n", "    if x > 0:\n        return 1\n    return 0\n")
    sub = make_submission(tmp, {"activation.py": sigmoid, "mp_neuron.py": mp})
    report = grader_for(seed=7).grade(sub, ["sigmoid", "mp-neuron"])
    path = tmp / "report.html"
    path.write_text(render(report), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def browser():
    yield from chromium_browser()


OVERFLOW = """
const w = document.documentElement.clientWidth;
const out = [];
if (document.documentElement.scrollWidth > w) out.push('page ' + document.documentElement.scrollWidth + ' > ' + w);
for (const el of document.querySelectorAll('pre, code, .msg, .hint, dd, summary')) {
  const r = el.getBoundingClientRect();
  if (r.width && r.right > w + 1) out.push(el.tagName + '.' + el.className + ' ends at ' + Math.round(r.right));
}
return out;
"""


@pytest.mark.parametrize("width", [1280, 390])
def test_nothing_overflows_and_long_code_stays_inside_its_block(browser, page, width):
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})
    browser.get(page.as_uri())
    assert LONG[:50] in browser.page_source  # the long printed line is there (a visible case's)
    assert browser.execute_script(OVERFLOW) == []


def test_hidden_output_is_absent_and_said_so_and_the_stage_hint_is_in_its_box(browser, page):
    browser.get(page.as_uri())
    assert "HIDDENMARK" not in browser.page_source
    notes = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "dd.hidden-note")]
    assert notes and all("output of hidden cases is not shown" in n for n in notes)
    stage4 = browser.find_element(By.ID, "stage-4")
    boxes = [e.text for e in stage4.find_elements(By.CSS_SELECTOR, ":scope > .hint")]
    assert len(boxes) == 1 and "receives the whole array" in boxes[0]
    assert "receives the whole array" not in stage4.find_element(By.CSS_SELECTOR, "p.msg").text
