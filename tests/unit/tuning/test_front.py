"""What a search with several objectives or constraints reports of its result (faceauth.tuning.front) on
hand-made trial records: the nearest trial when none is feasible, each trial's place in the search,
the pick rule in words, the report's front table, and the pareto/ and best/ folders."""

import math
from types import SimpleNamespace

from faceauth.training.fit import Objective
from faceauth.tuning.best import TrialRecord
from faceauth.tuning.front import _value, analyse, closest_to_feasible, copy_pick, front_section, trial_summary, write_pareto
from faceauth.tuning.objectives import Constraint
from faceauth.tuning.space import Parameter, SearchSpace


def _space(constraints=(Constraint("onnx_latency_ms", "<=", 2.5),)) -> SearchSpace:
    return SearchSpace(path="liveness.yaml", metric="acer", mode="min",
                       parameters={"lr": Parameter("lr", "log_float", 1e-4, 1e-2)},
                       objectives=(Objective("acer", "min"), Objective("onnx_latency_ms", "min")), constraints=constraints)


def _trial(trial_id: str, **kept: float) -> TrialRecord:
    return TrialRecord(trial_id=trial_id, name=f"liveness_{trial_id}", number=None, folder="", started_at=None,
                       ended_at=None, hyperparameters={}, status="completed", error=None, epochs_run=3,
                       best=kept.get("acer"), last={}, wall_time_s=1.0, loop_time_s=1.0, checkpoint=object(), kept=kept)


def test_with_nothing_feasible_the_trial_nearest_every_constraint_is_named():
    space = _space((Constraint("onnx_latency_ms", "<=", 2.5), Constraint("params", "<=", 1000)))
    # a misses by 0.5 ms and 500 parameters (500.5 in all); b by 1.5 ms only.
    records = [_trial("a", acer=0.1, onnx_latency_ms=3.0, params=1500), _trial("b", acer=0.2, onnx_latency_ms=4.0, params=900)]
    result = analyse(records, space)
    assert result.pick is None and result.reasons == {"a": "violates onnx_latency_ms<=2.5, params<=1000",
                                                      "b": "violates onnx_latency_ms<=2.5"}
    assert closest_to_feasible(result) == "the nearest was trial liveness_b (onnx_latency_ms 4, params 900)"


def test_with_no_usable_trial_the_message_points_to_the_table():
    lost = _trial("lost", acer=0.1)  # never reported its latency
    assert closest_to_feasible(analyse([lost], _space())).startswith("no trial reported every objective with a kept model")


def test_each_trial_knows_its_place_in_the_search():
    records = [_trial("fast", acer=0.20, onnx_latency_ms=1.0), _trial("good", acer=0.05, onnx_latency_ms=2.0),
               _trial("slow", acer=0.04, onnx_latency_ms=3.0), _trial("worse", acer=0.30, onnx_latency_ms=2.2)]
    result = analyse(records, _space())
    assert result.pick.trial_id == "good"  # slow has the best acer but breaks the latency bound
    assert trial_summary(records[1], result) == {
        "objectives": {"acer": {"mode": "min", "value": 0.05}, "onnx_latency_ms": {"mode": "min", "value": 2.0}},
        "constraints": {"onnx_latency_ms<=2.5": True}, "pareto_optimal": True, "picked": True,
        "pick_rule": "the feasible trial with the best validation acer (min)"}
    fast, slow, worse = (trial_summary(records[i], result) for i in (0, 2, 3))
    assert (fast["pareto_optimal"], fast["picked"]) == (True, False)
    assert slow["constraints"] == {"onnx_latency_ms<=2.5": False} and not slow["pareto_optimal"]
    assert not worse["pareto_optimal"]  # good is both more accurate and faster
    assert analyse(records, _space(), "knee").describe_pick().startswith("the knee of the feasible front")


def test_report_values_read_as_numbers_do():
    assert [_value(v) for v in (None, math.nan, math.inf, 0.123456, 2.0, 123456, 1234567.0, "fp16")] == [
        "n/a", "n/a", "n/a", "0.1235", "2", "123,456", "1,234,567", "fp16"]


def test_the_front_table_lists_each_front_trial_with_its_test_figure():
    records = [_trial("fast", acer=0.20, onnx_latency_ms=1.0, params=5000.0, onnx_bytes=20480.0),
               _trial("good", acer=0.05, onnx_latency_ms=2.0, params=12000.0, onnx_bytes=49152.0)]
    result = analyse(records, _space())
    shipped = {"good": SimpleNamespace(test={"acer": 0.0625})}  # fast's export failed: no test figure
    lines = front_section(result, shipped, plot_name="front.png")
    assert lines[0] == "## Accuracy against deployment cost"
    assert ("Objectives: `acer` (min), `onnx_latency_ms` (min); constraints: `onnx_latency_ms<=2.5`. 2 of 2 trials with a "
            "model are feasible; 2 on the Pareto front (`../pareto/<trial>/`).") in lines
    assert "Pick (`best`): the feasible trial with the best validation acer (min)." in lines
    assert "![front](front.png)" in lines
    header = next(line for line in lines if line.startswith("| trial |"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert columns[:3] == ["trial", "val acer", "onnx_latency_ms"] and columns[-2:] == ["test acer", "picked"]
    rows = {line.split("|")[1].strip(): line for line in lines if line.startswith("| liveness_")}
    assert list(rows) == ["liveness_good", "liveness_fast"]  # by acer, best first
    good = [c.strip() for c in rows["liveness_good"].strip("|").split("|")]
    assert good[1:3] == ["0.05", "2"] and good[-2:] == ["0.0625", "**yes**"]
    assert "12,000" in good and "49,152" in good
    fast = [c.strip() for c in rows["liveness_fast"].strip("|").split("|")]
    assert fast[-2:] == ["n/a", ""]
    assert len(columns) == len(good) == len(fast)


def test_a_single_objective_with_a_constraint_has_no_front_table():
    space = SearchSpace(path="s.yaml", metric="acer", mode="min", parameters={},
                        constraints=(Constraint("onnx_latency_ms", "<=", 2.5),))
    result = analyse([_trial("a", acer=0.1, onnx_latency_ms=1.0)], space)
    lines = front_section(result, {})
    assert any(line.endswith("1 of 1 trials with a model are feasible.") for line in lines)
    assert not any(line.startswith("| trial |") for line in lines) and result.front == []


def test_pareto_folders_are_written_afresh_and_best_is_the_picks_copy(tmp_path):
    records = [_trial("fast", acer=0.20, onnx_latency_ms=1.0), _trial("good", acer=0.05, onnx_latency_ms=2.0)]
    result = analyse(records, _space())
    stale = tmp_path / "pareto" / "liveness_gone"
    stale.mkdir(parents=True)  # a front from an earlier finish of this run

    def finish(record, folder, extra):
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(record.trial_id)
        return (record.trial_id, extra["picked"])

    done = write_pareto(result, tmp_path, finish)
    assert done == {"good": ("good", True), "fast": ("fast", False)}
    assert sorted(p.name for p in (tmp_path / "pareto").iterdir()) == ["liveness_fast", "liveness_good"]
    best = tmp_path / "best"
    best.mkdir()
    (best / "old-model.onnx").write_text("from an earlier pick")
    copy_pick(tmp_path, "liveness_good", best)
    assert sorted(p.name for p in best.iterdir()) == ["metrics.json"] and (best / "metrics.json").read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best", "pareto"]  # no best.tmp left
