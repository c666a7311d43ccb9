"""The terminal summary: one line per stage, one per case, details for what failed."""

from __future__ import annotations

from grader.messages import LANGS

COLORS = {"passed": "32", "failed": "31", "error": "35", "timeout": "33"}
MARKS = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "timeout": "TIME"}
WORDS = {
    "en": {"seed": "seed", "total": "Total", "hint": "hint", "reproduce": "reproduce with", "hidden": "hidden",
           "output": "printed", "warnings": "warning", "note": "note"},
    "zh": {"seed": "随机种子", "total": "总分", "hint": "提示", "reproduce": "复现命令", "hidden": "隐藏用例",
           "output": "输出", "warnings": "警告", "note": "说明"},
}


def _fmt(x: float) -> str:
    return f"{x:g}"


def render_text(report: dict, color: bool = False, verbose: bool = False) -> str:
    lang = report.get("lang", "en") if report.get("lang") in LANGS else "en"
    w = WORDS[lang]

    def paint(status: str, text: str) -> str:
        return f"\033[{COLORS.get(status, '0')}m{text}\033[0m" if color else text

    lines = []
    for stage in report["stages"]:
        head = f"[{stage['number']:>2}] {stage['slug']}  {stage['title']}"
        score = f"{_fmt(stage['score'])}/{_fmt(stage['max_score'])}"
        lines.append(f"{paint(stage['status'], MARKS[stage['status']]):<6} {head}  {score}")
        for note in (stage.get("details") or {}).get("notes", []):
            lines.append(f"       {w['note']}: {note}")
        if stage["status"] == "error":
            lines.append(f"       {stage['message']}")
            tb = stage.get("details", {}).get("traceback")
            if verbose and tb:
                lines += ["         " + ln for ln in tb.rstrip().splitlines()[-8:]]
        shown_hint = None
        for case in stage["cases"]:
            tag = f" ({w['hidden']})" if case["hidden"] else ""
            line = f"    {paint(case['status'], MARKS[case['status']]):<6} {case['name']}{tag}  " \
                   f"{_fmt(case['score'])}/{_fmt(case['max_score'])}"
            lines.append(line)
            if case["status"] != "passed" and stage["status"] != "error":
                for ln in case["message"].splitlines():
                    lines.append(f"           {ln}")
                if case.get("hint") and case["hint"] != shown_hint:
                    lines.append(f"           {w['hint']}: {case['hint']}")
                    shown_hint = case["hint"]  # the same hint again is not repeated
                det = case.get("details") or {}
                if verbose and det.get("traceback"):
                    lines += ["           " + ln for ln in det["traceback"].rstrip().splitlines()[-6:]]
    lines.append("")
    lines.append(f"{w['total']}: {_fmt(report['score'])}/{_fmt(report['max_score'])}   "
                 f"{w['seed']}: {report['seed']}   ({w['reproduce']} --seed {report['seed']})")
    return "\n".join(lines)
