"""The JUnit XML renderer."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from reports import graded, make_report, render_junit, render_markdown, write_junit  # noqa: F401 - graded is a fixture


def test_junit_structure(tmp_path):
    path = write_junit(make_report(), tmp_path / "out" / "junit.xml")
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("6", "1", "2")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["1-sigmoid", "5-mae-rmse", "6-steepest-descent"]
    s1, s5, s6 = suites
    assert [tc.get("name") for tc in s1.findall("testcase")] == ["fixed", "hidden-random"]
    assert all(tc.get("classname") == "sigmoid" for tc in s1.findall("testcase"))
    assert s1.find("testcase").get("time") == "0.010"
    assert s1.find(".//failure") is None and s1.find(".//error") is None
    assert (s5.get("tests"), s5.get("failures"), s5.get("errors")) == ("3", "1", "1")
    rmse = s5.find("testcase[@name='rmse']")
    fail = rmse.find("failure")
    assert fail.get("message") == 'expected 0.47 got 0.1 <&> "q" | pipe ```'  # escaping round-trips
    assert "Hint: use np.sqrt(np.mean(e**2))" in fail.text
    err = s5.find("testcase[@name='hidden-rmse']/error")
    assert err.get("type") == "timeout"
    # a stage error without cases is one errored testcase
    tcs = s6.findall("testcase")
    assert len(tcs) == 1 and tcs[0].get("classname") == "steepest-descent"
    e6 = tcs[0].find("error")
    assert e6.get("message") == "SyntaxError: invalid syntax (line 3)"  # ANSI and NUL removed
    props = {p.get("name"): p.get("value") for p in s5.find("properties")}
    assert props["score"] == "2.0" and props["max_score"] == "5.0"


def test_junit_multiline_message_attribute():
    rep = make_report()
    rep["stages"][1]["cases"][1]["message"] = "line one\nline two"
    root = ET.fromstring(render_junit(rep).encode())
    fail = root.find(".//testcase[@name='rmse']/failure")
    assert fail.get("message") == "line one"
    assert "line one\nline two" in fail.text


def test_markdown_and_junit_of_real_reports(graded):
    md = render_markdown(graded["broken"], "en")
    assert "| 1 | sigmoid" in md and "\u26a0\ufe0f error" in md and "syntax error" in md
    assert "rmse" in md and "Hint:" in md  # the known-mistake hint of the seed's RMSE formula
    zh = render_markdown(graded["broken"], "zh")
    assert zh.startswith("## 评分报告")
    root = ET.fromstring(render_junit(graded["full"]).encode())
    n_cases = sum(len(s.cases) for s in graded["specs"])
    assert root.get("tests") == str(n_cases) and root.get("failures") == "0" and root.get("errors") == "0"
    root = ET.fromstring(render_junit(graded["broken"]).encode())
    assert int(root.get("errors")) >= len(graded["specs"][0].cases)
    assert int(root.get("failures")) >= 1
