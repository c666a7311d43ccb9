"""Stage 5, MAE and RMSE: right-but-different submissions keep every point, wrong ones lose exactly the
cases they deserve to lose, with a hint that names the mistake."""

from __future__ import annotations

from conftest import case, failed, grade_stage, variant


MET = "metrics.py"


def test_metrics_alternatives_pass(sub):
    text = variant(MET, "MAE = np.sum(error) / count", "MAE = np.mean(np.abs(pred - actual))")
    text = text.replace("RMSE = np.sqrt(error.dot(error) / count)", "RMSE = float(np.sqrt(np.mean(error ** 2)))")
    assert failed(grade_stage(sub({MET: text}), "mae-rmse")) == set()


def test_seed_rmse_formula_loses_rmse_cases_with_targeted_hint(sub):
    seed_text = variant(MET, "RMSE = np.sqrt(error.dot(error) / count)",
                        "RMSE = np.sqrt(error.dot(error.T)) / count\n    if RMSE == 0.4722029223776848:\n"
                        "        return 0.47220292237768485")
    stage = grade_stage(sub({MET: seed_text}), "mae-rmse")
    # n = 1 makes both formulas agree on single-rating
    assert failed(stage) == {"rmse-small", "random-rmse", "integer-ratings"}
    assert "divide inside the square root" in case(stage, "rmse-small")["hint"]
    assert "divide inside the square root" in case(stage, "random-rmse")["hint"]


def test_mse_without_root_gets_its_hint(sub):
    text = variant(MET, "RMSE = np.sqrt(error.dot(error) / count)", "RMSE = error.dot(error) / count")
    stage = grade_stage(sub({MET: text}), "mae-rmse")
    assert "square root" in case(stage, "rmse-small")["hint"]


def test_mae_sign_error(sub):
    text = variant(MET, "error = np.abs(pred - actual)", "error = pred - actual")
    stage = grade_stage(sub({MET: text}), "mae-rmse")
    assert failed(stage) == {"mae-small", "single-rating", "random-mae", "integer-ratings"}
    assert "absolute value" in case(stage, "mae-small")["hint"]


def test_chinese_messages(sub):
    text = variant(MET, "RMSE = np.sqrt(error.dot(error) / count)", "RMSE = np.sqrt(error.dot(error.T)) / count")
    stage = grade_stage(sub({MET: text}), "mae-rmse", lang="zh")
    c = case(stage, "rmse-small")
    assert "应为" in c["message"] and "容差" in c["message"] and "开方之前" in c["hint"]
    assert stage["title"] == "平均绝对误差和均方根误差"
