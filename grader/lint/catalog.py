"""Every sentence `grade check-course` and the similarity page show, in English and Chinese.

Kept beside the checks (same shape as grader/messages.py: key -> (en, zh)) so that the
integrator can fold it into the one message catalog.
"""

from __future__ import annotations

CATALOG: dict[str, tuple[str, str]] = {
    "spec_invalid": ("the course does not load: {why}", "课程无法加载:{why}"),
    "needs": ("skipped: needs the module {name}, which is not installed", "已跳过:需要未安装的模块 {name}"),
    "ref_not_full": ("the reference does not earn full marks with seed {seed}: case {case}: {msg}",
                     "参考答案在种子 {seed} 下未得满分:用例 {case}:{msg}"),
    "ref_nondeterministic": ("the reference is not deterministic: with seed {seed}, case {case} gave different "
                             "values in two runs", "参考答案结果不确定:种子 {seed} 下用例 {case} 两次运行结果不同"),
    "template_missing": ("the template has no {file}", "模板中没有 {file}"),
    "template_scores": ("the template earns {score:g} points (case {case}); it must earn zero",
                        "模板得到 {score:g} 分(用例 {case});模板应得零分"),
    "template_message": ("the template's case {case} does not say \"not implemented\": {msg}",
                         "模板的用例 {case} 没有提示“尚未实现”:{msg}"),
    "hidden_repeats": ("hidden case {case} draws only {distinct} different inputs in {n} seeds: a table of "
                       "hard-coded answers could pass it", "隐藏用例 {case} 在 {n} 个种子中只产生 {distinct} 组不同输入:"
                       "预先写好的答案表就可能通过"),
    "mistake_passes": ("known mistake {mistake} (case {case}) earns full marks: its value equals the right answer",
                       "已知错误 {mistake}(用例 {case})得到满分:其值与正确答案相同"),
    "mistake_no_hint": ("known mistake {mistake} (case {case}) fails without its hint (hint shown: {hint})",
                        "已知错误 {mistake}(用例 {case})未给出它的提示(实际提示:{hint})"),
    "mistake_unchecked": ("known mistake {mistake} (an error pattern) was not produced by any mutant; not checked",
                          "已知错误 {mistake}(错误信息模式)没有被任何变异体触发;未检查"),
    "mistake_seen": ("known mistake {mistake} (an error pattern) is shown by mutant {mutant}",
                     "已知错误 {mistake}(错误信息模式)由变异体 {mutant} 触发"),
    "mutant_survives": ("mutant {id} survives: every case passes. Add a case that tells it apart, or list it "
                        "under equivalent_mutants if it computes the same thing",
                        "变异体 {id} 存活:所有用例都通过。请增加能区分它的用例;若它与参考答案等价,请列入 equivalent_mutants"),
    "equivalent_stale": ("equivalent_mutants entry {entry!r} matches no surviving mutant",
                         "equivalent_mutants 中的 {entry!r} 没有对应的存活变异体"),
    "mutation_score": ("mutation score {score}: {killed} of {graded} mutants killed ({equivalent} declared equivalent, "
                       "{total} generated{capped})", "变异得分 {score}:{graded} 个变异体中杀死 {killed} 个"
                       "(声明等价 {equivalent} 个,共生成 {total} 个{capped})"),
    "capped": (", sampled to {cap} with a fixed seed", ",以固定种子抽样至 {cap} 个"),
    "no_mutants": ("no mutants: no student-written code reached by the stage's calls",
                   "没有变异体:用例调用不到学生编写的代码"),
    "summary_ok": ("check-course: {n} stages, no findings ({seconds:.0f} s)", "check-course:{n} 个阶段,没有发现问题({seconds:.0f} 秒)"),
    "summary_bad": ("check-course: {findings} findings in {stages} of {n} stages ({seconds:.0f} s)",
                    "check-course:{n} 个阶段中有 {stages} 个共发现 {findings} 个问题({seconds:.0f} 秒)"),
    "title": ("Course check", "课程检查"),
    "findings": ("Findings", "问题"),
    "notes": ("Notes", "说明"),
    "survivors": ("Surviving mutants", "存活的变异体"),
    "killed_by": ("killed by", "被以下用例杀死"),
    "mutants": ("mutants", "个变异体"),
    "equivalent": ("declared equivalent", "已声明等价"),
    "survives": ("survives", "存活"),
    "seeds": ("seeds", "随机种子"),
    # similarity
    "sim_title": ("Similarity between submissions", "提交之间的相似度"),
    "sim_signal": ("Similarity is a signal for a human to look at, not a verdict: short or standard solutions "
                   "look alike. The template's code is excluded.",
                   "相似度只是供人查看的线索,不是结论:简短或标准的解法本来就相似。模板中的代码已排除。"),
    "sim_none": ("No pair above the threshold ({threshold:.0%}).", "没有超过阈值({threshold:.0%})的组合。"),
    "sim_file": ("{file}: {n} pairs above {threshold:.0%}", "{file}:{n} 组超过 {threshold:.0%}"),
    "sim_link": ("Similarity between submissions (a signal for a human, not a verdict)",
                 "提交之间的相似度(供人查看的线索,不是结论)"),
}


def lt(lang: str, key: str, **params) -> str:
    en, zh = CATALOG[key]
    return (zh if lang == "zh" else en).format(**params)
