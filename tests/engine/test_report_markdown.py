"""The Markdown renderer."""

from __future__ import annotations

from reports import case, make_report, render_markdown


def test_markdown_table_and_failures():
    md = render_markdown(make_report(), "en")
    assert md.startswith("## Grade report: 5 / 12 (42%)\n\nstages: 1 done, 2 in progress, 0 not started\n")
    rows = [l for l in md.splitlines() if l.startswith("| ")]
    assert len(rows) == 1 + 3  # header + one row per stage
    assert "| 1 | sigmoid (Sigmoid) | 3 / 3 | ✅ passed | 2 / 2 |" in md
    assert "| 5 | mae-rmse (MAE and RMSE) | 2 / 5 | ❌ failed | 1 / 3 |" in md
    assert "⚠️ error" in md and "[!]" not in md and "[x]" not in md and "[ ]" not in md
    # failed cases with their messages, in fences longer than any backtick run inside
    assert "### Cases that did not pass" in md
    assert "**5 mae-rmse / rmse**: ❌ failed, 0 / 2" in md
    assert "````text\nexpected 0.47 got 0.1 <&> \"q\" | pipe ```\n````" in md
    assert "Hint: use np.sqrt(np.mean(e\\*\\*2))" in md
    assert "hidden-rmse**: ⏱️ timeout, 0 / 1, hidden case" in md
    assert "SyntaxError: invalid syntax (line 3)" in md
    assert "fixed" not in md.split("###")[1]  # passed cases are not listed


def test_markdown_chinese_and_all_passed():
    rep = make_report()
    rep["stages"] = rep["stages"][:1]
    md = render_markdown(rep, "zh")
    assert md.startswith("## 评分报告")
    assert "| # | 关卡 | 得分 | 状态 | 通过用例 |" in md
    assert "✅ 通过" in md
    assert "所有已评分的用例均已通过" in md
    assert "### " not in md


def test_markdown_truncates_long_messages_and_lists():
    rep = make_report()
    many = [case(f"c{i}", "failed", 0, 1, message="x" * 5000) for i in range(200)]
    rep["stages"][1]["cases"] = many
    md = render_markdown(rep, "en", max_chars=20_000)
    assert len(md) <= 20_000
    assert "[truncated]" in md
    assert "more not shown" in md
    assert "x" * 700 not in md


def test_markdown_table_cells_are_escaped():
    rep = make_report()
    rep["stages"][0]["title"] = "a | b\nc"
    md = render_markdown(rep)
    assert "sigmoid (a \\| b c)" in md


def test_markdown_no_stages():
    md = render_markdown({"score": 0, "max_score": 0, "stages": []}, "en")
    assert "No stage was graded" in md


def test_markdown_shows_a_hint_once_per_stage_and_a_command_that_reproduces():
    rep = make_report()
    same = "look at the order of the square root and the mean"
    rep["stages"][1]["cases"] = [case(f"c{i}", "failed", 0, 1, message=f"m{i}", hint=same) for i in range(3)]
    rep["stages"][1]["cases"].append(case("other", "failed", 0, 1, message="m", hint="another hint"))
    md = render_markdown(rep, "en")
    assert md.count(same) == 1 and md.count("another hint") == 1
    assert all(f"mae-rmse / c{i}" in md for i in range(3))  # every case is still listed
    rep["stages"].append(dict(rep["stages"][1], number=7, slug="tinynet-forward"))
    assert render_markdown(rep, "en").count(same) == 2  # once per stage, not once per report
    assert "reproduce with: `grade sub --stage 1,5-7 --seed 7`" in render_markdown(rep, "en")
