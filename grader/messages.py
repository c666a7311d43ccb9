"""Every sentence a student reads, in English and Chinese."""

from __future__ import annotations

LANGS = ("en", "zh")

CATALOG: dict[str, tuple[str, str]] = {
    # comparisons
    "none": ("returned None: nothing came back (is a `return` missing?)",
             "返回了 None:没有得到任何结果(是否漏写了 `return`?)"),
    "not_numeric": ("expected numbers, got {got}", "应返回数值,实际得到 {got}"),
    "not_array": ("could not read the result as an array of numbers ({err})",
                  "无法把结果读成数值数组({err})"),
    "complex": ("returned complex numbers; real numbers were expected", "返回了复数,应返回实数"),
    "shape": ("wrong shape: expected {exp}, got {got}", "形状不对:应为 {exp},实际为 {got}"),
    "transposed": (" - it looks transposed (try `.T`)", " —— 看起来是转置了(试试 `.T`)"),
    "nonfinite": ("got {what} at {n} of {total} positions where finite values were expected; "
                  "first at index {idx}: expected {exp}, got {got}",
                  "在 {total} 个位置中有 {n} 个出现 {what},而应为有限值;第一个在下标 {idx}:应为 {exp},实际为 {got}"),
    "tol_header": ("Not equal to tolerance rtol={rtol:g}, atol={atol:g}",
                   "超出容差 rtol={rtol:g}, atol={atol:g}"),
    "mismatched": ("Mismatched elements: {bad} / {total} ({pct:.3g}%)", "不一致的元素:{bad} / {total}({pct:.3g}%)"),
    "worst_hidden": ("Worst at index {idx}: got {got}", "偏差最大的位置 {idx}:实际为 {got}"),
    "scalar": ("expected {exp}, got {got} (off by {abs:.6g}, relative {rel:.3g}; tolerance rtol={rtol:g}, atol={atol:g})",
               "应为 {exp},实际为 {got}(相差 {abs:.6g},相对误差 {rel:.3g};容差 rtol={rtol:g}, atol={atol:g})"),
    "scalar_hidden": ("got {got}, off by {abs:.6g} (relative {rel:.3g}; tolerance rtol={rtol:g}, atol={atol:g})",
                      "实际为 {got},相差 {abs:.6g}(相对误差 {rel:.3g};容差 rtol={rtol:g}, atol={atol:g})"),
    "exact_diff_hidden": ("{path}: got {got}, which is not the expected value", "{path}:实际为 {got},与期望值不同"),
    "array_diff_hidden": ("{path}: {bad} of {total} elements differ; first at index {idx}: got {got}",
                          "{path}:{total} 个元素中有 {bad} 个不同;第一个在下标 {idx}:实际为 {got}"),
    "text_line_hidden": ("printed line {n} differs from the expected output: got {got!r}", "输出第 {n} 行与期望不同:实际为 {got!r}"),
    "nonfinite_hidden": ("got {what} at {n} of {total} positions where finite values were expected; first at index {idx}",
                         "在 {total} 个位置中有 {n} 个出现 {what},而应为有限值;第一个在下标 {idx}"),
    "worst": ("Worst at index {idx}: expected {exp}, got {got}", "偏差最大的位置 {idx}:应为 {exp},实际为 {got}"),
    "max_abs": ("Max absolute difference: {v:.6g}", "最大绝对误差:{v:.6g}"),
    "max_rel": ("Max relative difference: {v:.6g}", "最大相对误差:{v:.6g}"),
    "exact_diff": ("{path}: expected {exp}, got {got}", "{path}:应为 {exp},实际为 {got}"),
    "exact_len": ("{path}: expected {exp} items, got {got}", "{path}:应有 {exp} 个元素,实际有 {got} 个"),
    "exact_type": ("{path}: expected {exp}, got {got}", "{path}:类型应为 {exp},实际为 {got}"),
    "exact_keys": ("{path}: expected keys {exp}, got {got}", "{path}:键应为 {exp},实际为 {got}"),
    "array_diff": ("{path}: {bad} of {total} elements differ; first at index {idx}: expected {exp}, got {got}",
                   "{path}:{total} 个元素中有 {bad} 个不同;第一个在下标 {idx}:应为 {exp},实际为 {got}"),
    "text_line": ("printed line {n}: expected {exp!r}, got {got!r}", "输出第 {n} 行:应为 {exp!r},实际为 {got!r}"),
    "text_lines": ("printed {got} lines, expected {exp}", "输出了 {got} 行,应为 {exp} 行"),
    "output_count": ("returned {got} values, expected {exp} ({names})", "返回了 {got} 个值,应返回 {exp} 个({names})"),
    "output_missing": ("the result has no {name!r}", "结果中缺少 {name!r}"),
    "in_output": ("{name}: {msg}", "{name}:{msg}"),
    "draw": ("draw {i} of {n}: {msg}", "第 {i}/{n} 组输入:{msg}"),
    "mistake": ("(this matches a known mistake: {name})", "(与一个常见错误一致:{name})"),
    # runs
    "passed": ("passed", "通过"),
    "missing_file": ("{file} was not found in the submission", "提交中没有找到 {file}"),
    "syntax_error": ("{file} has a syntax error on line {line}: {msg}", "{file} 第 {line} 行有语法错误:{msg}"),
    "import_error": ("{file} could not be imported: {kind}: {msg}{where}", "{file} 无法导入:{kind}: {msg}{where}"),
    "import_exit": ("{file} called sys.exit() while being imported{where}; remove it or guard it with "
                    "`if __name__ == '__main__':`",
                    "{file} 在导入时调用了 sys.exit(){where};请删除,或放到 `if __name__ == '__main__':` 之下"),
    "import_toplevel": (" - code at the top level of the file runs when the grader imports it: move it under "
                        "`if __name__ == '__main__':`",
                        " —— 文件顶层的代码会在评测器导入时执行:请把它放到 `if __name__ == '__main__':` 之下"),
    "import_module": (" - the grading environment provides numpy, sympy, matplotlib and (for PyTorch stages) torch",
                      " —— 评测环境提供 numpy、sympy、matplotlib 以及(PyTorch 关卡的)torch"),
    "at_line": (" (line {line})", "(第 {line} 行)"),
    "not_run": ("not run: {why}", "未运行:{why}"),
    "import_failed": ("the file could not be imported", "文件无法导入"),
    "earlier_stop": ("the run stopped during an earlier case", "运行在之前的用例中已经停止"),
    "timeout": ("ran longer than {limit:g} s (the stage's limit); look for an endless loop or a very slow step",
                "运行超过了 {limit:g} 秒(本关的时间限制);请检查是否有死循环或很慢的步骤"),
    "cpu": ("used more than {limit:g} s of CPU time", "CPU 时间超过了 {limit:g} 秒"),
    "memory": ("exceeded the {limit} memory limit", "超出了 {limit} 的内存限制"),
    "output": ("printed more than {limit} of output; remove the prints in loops",
               "输出超过了 {limit};请删除循环中的 print"),
    "crashed": ("the process ended abruptly ({how}) while running this case",
                "运行本用例时进程意外结束({how})"),
    "exception": ("raised {kind}: {msg}{where}", "抛出了 {kind}: {msg}{where}"),
    "encode": ("{msg}", "{msg}"),
    "not_implemented": ("not implemented yet: fill in the code between Begin and End{where}",
                        "尚未实现:请在 Begin 和 End 之间补全代码{where}"),
    "missing_name": ("{file} does not define {name!r}; check the name and spelling",
                     "{file} 中没有定义 {name!r};请检查名称和拼写"),
    "needs_torch": ("needs PyTorch, which is not installed: install the extra (pip install 'grade[torch]')",
                    "本关需要 PyTorch,但未安装:请安装扩展(pip install 'grade[torch]')"),
    "needs_module": ("needs the Python package {name!r}, which is not installed here",
                     "本关需要 Python 包 {name!r},但当前环境未安装"),
    "reference_failed": ("the reference solution failed on case {case} ({why}); this is a course problem: "
                         "tell your instructor", "参考答案在用例 {case} 上出错({why});这是课程本身的问题,请告知教师"),
    "sandbox_failed": ("the grader could not run this stage: {why}", "评测器无法运行本关:{why}"),
    "not_isolated": ("note: your code ran without a sandbox on this machine ({why}); this self-check is not isolated",
                     "注意:本机无法建立沙箱({why}),你的代码未经隔离运行;本次自检不是隔离环境"),
    "no_sandbox_refused": ("no sandbox can be built on this machine ({why}); refusing to grade other people's code "
                           "unisolated (use --unsafe-no-sandbox to do it anyway)",
                           "本机无法建立沙箱({why});拒绝在无隔离的情况下评测他人的代码(如确需如此,请加 --unsafe-no-sandbox)"),
    "stage_passed": ("all {n} cases passed", "全部 {n} 个用例通过"),
    "stage_failed": ("{failed} of {n} cases did not pass", "{n} 个用例中有 {failed} 个未通过"),
}


def t(lang: str, key: str, **params) -> str:
    en, zh = CATALOG[key]
    return (zh if lang == "zh" else en).format(**params)


def size_text(n_bytes: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= size:
            return f"{n_bytes / size:g} {unit}"
    return f"{int(n_bytes)} B"
