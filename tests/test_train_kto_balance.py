"""KTO's desirable_weight from the class balance (TRL: desirable_weight * n_desirable / (undesirable_weight *
n_undesirable) in [1, 4/3]), unless the user set a weight in trainer_args; recorded in the config and the plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.train import kto_balance as kb


@pytest.mark.parametrize("good,bad", [(300, 100), (100, 300), (7, 1), (1, 9), (51, 49)])
def test_unbalanced_sets_get_a_weight_in_trls_range(good: int, bad: int) -> None:
    b = kb.balance(good, bad)
    ratio = b["desirable_weight"] * good / (b["undesirable_weight"] * bad)
    assert 1.0 <= ratio <= 4 / 3 and b["in_range"] and b["ratio"] == pytest.approx(ratio, abs=1e-4)
    # TRL's own check (KTOTrainer, rounded to 2 decimals) finds the weight in its recommended range
    lower, upper = round(bad * b["undesirable_weight"] / good, 2), round(bad * b["undesirable_weight"] / good * 1.33, 2)
    assert lower <= b["desirable_weight"] <= upper
    assert b["source"] == ("default" if (good, bad) == (51, 49) else "class balance")


def test_balanced_set_and_user_weights_are_kept() -> None:
    assert kb.balance(50, 50)["desirable_weight"] == 1.0 and kb.balance(50, 50)["source"] == "default"
    user = kb.balance(300, 100, {"desirable_weight": 2.0})
    assert user["desirable_weight"] == 2.0 and user["source"] == "trainer_args" and not user["in_range"]
    assert "OUTSIDE TRL's recommended range" in kb.describe(user)
    assert kb.balance(10, 0)["ratio"] is None and "nothing to balance" in kb.describe(kb.balance(10, 0))


def test_the_plan_and_the_run_config_carry_the_weights(projects_root: Path) -> None:
    from core import store
    from core.generate import pipeline_state as ps
    from core.train import service
    from core.train.plan import build_plan
    from tests.test_train_common import make_ready_project, rows_for
    from tests.test_train_hardware import _check

    project = make_ready_project("kto-balance", "kto")
    rows = rows_for("kto", 40)
    rows = [r for r in rows if r["label"]] + [r for r in rows if not r["label"]][:5]  # 20 good, 5 bad
    store.write_parquet(project.path(ps.TRAIN_FILE), rows)
    plan = build_plan(project=project.slug, method="kto", backend="local", base_model="x/Model-0.5B",
                      check=_check("kto"), train=project.meta.config.train, params=(0.5, "name"),
                      local_device=("cpu", 1.0))
    service.add_objective(project, plan)
    b = plan.kto_balance
    assert (b["n_desirable"], b["n_undesirable"], b["source"]) == (20, 5, "class balance")
    assert b["desirable_weight"] == pytest.approx(7 / 6 * 5 / 20, abs=1e-3)
    assert "KTO       desirable_weight 0.2917, undesirable_weight 1 (20 desirable / 5 undesirable rows; set " \
           "from the class balance): weighted ratio 1.17, within TRL's recommended range 1 to 4/3" in plan.render()
    config = service.build_run_config(project, plan, "run-1")
    assert config["trainer_args"]["desirable_weight"] == b["desirable_weight"] and config["kto_balance"] == b
    assert "desirable_weight" not in project.meta.config.train.trainer_args  # the project's settings untouched

    project.meta.config.train.trainer_args = {**project.meta.config.train.trainer_args, "undesirable_weight": 3.0}
    project.save()
    mine = build_plan(project=project.slug, method="kto", backend="local", base_model="x/Model-0.5B",
                      check=_check("kto"), train=project.meta.config.train, params=(0.5, "name"),
                      local_device=("cpu", 1.0))
    service.add_objective(project, mine)
    assert mine.kto_balance["source"] == "trainer_args" and "desirable_weight" not in mine.settings["trainer_args"]
    assert mine.settings["trainer_args"]["undesirable_weight"] == 3.0
