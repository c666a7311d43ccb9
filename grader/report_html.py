"""The self-contained HTML report (inline CSS, no scripts, no network fetches)."""

from __future__ import annotations

from functools import lru_cache

WORDS = {
    "en": {"title": "Grading report", "submission": "submission", "seed": "seed", "reproduce": "reproduce with",
           "passed": "passed", "failed": "failed", "error": "error", "timeout": "timeout", "hint": "Hint",
           "hidden": "hidden case", "hidden_note": "A hidden case: its inputs and expected values are not shown.",
           "call": "call", "expected": "expected", "got": "got", "traceback": "traceback", "output": "printed",
           "warnings": "warnings", "course": "course"},
    "zh": {"title": "评测报告", "submission": "提交", "seed": "随机种子", "reproduce": "复现命令",
           "passed": "通过", "failed": "未通过", "error": "错误", "timeout": "超时", "hint": "提示",
           "hidden": "隐藏用例", "hidden_note": "隐藏用例:不显示其输入和期望值。",
           "call": "调用", "expected": "期望值", "got": "实际值", "traceback": "错误回溯", "output": "输出",
           "warnings": "警告", "course": "课程"},
}


@lru_cache(maxsize=1)
def _template():
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("grader", "templates"), autoescape=select_autoescape(["html", "j2"]))
    return env.get_template("report.html.j2")


def render_html(report: dict, lang: str | None = None) -> str:
    lang = lang or report.get("lang", "en")
    return _template().render(
        report=report, lang=lang, w=WORDS.get(lang, WORDS["en"]),
        fmt=lambda x: f"{x:g}",
        pct=lambda a, b: round(100.0 * a / b, 1) if b else 0.0,
    )
