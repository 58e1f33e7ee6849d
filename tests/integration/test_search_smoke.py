"""One smoke search per registered task, end to end against a real local Ray, as a user runs it:

    python -m faceauth.tune <task> --smoke-test

What every task's best/ folder must hold is checked the same way for all; each task's own checks
(its metrics, baselines, deployment notes) follow in TASK_CHECKS."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
import yaml

from faceauth import train as train_cli
from faceauth import tune as tune_cli
from faceauth.training.checkpoint import load_checkpoint
from faceauth.evaluation.metrics import PAD_KEYS, VERIFICATION_KEYS
from faceauth.tasks import get_task, list_tasks
from tests.run_readers import trials


def smoke_search(tmp_path, task) -> int:
    extra = ["--cache-dir", str(tmp_path / "cache")] if "cache_dir" in task.flags else []
    return tune_cli.main([task.name, "--smoke-test", "--no-dashboard", "--num-cpus", "2", "--name", "smoke",
                          "--storage", str(tmp_path / "runs"), "--log-dir", str(tmp_path / "logs"), *extra])


# The temporal and liveness searches (18 s and about 35 s) run with the slow tests, for the default run's
# margin under 6 minutes: the search's path is the same code for every task, the liveness task's searches run in
# the default set through tests/integration/test_multi_objective_search.py, and each task's own training,
# evaluation and export run there too.
@pytest.mark.usefixtures("shared_ray")
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in ("temporal", "liveness") else n
                                  for n in list_tasks()])
def test_smoke_search_writes_a_complete_best_folder(tmp_path, name, capsys):
    task = get_task(name)
    assert smoke_search(tmp_path, task) == 0
    printed = capsys.readouterr().out.splitlines()  # INFO lines go to stdout
    run = tmp_path / "runs" / "smoke"
    best = run / "best"
    rows = trials(run)
    assert len(rows) == 2 and {r["status"] for r in rows} <= {"completed", "early_stopped", "stopped_by_scheduler"}
    # The terminal: a line per trial with the value it keeps, no Tune boxes, the summary last.
    for row in rows:
        line = next(l for l in printed if l.startswith(row["trial_name"] + " "))
        assert f"{task.objective.metric} {row[f'best_{task.objective.metric}']:.4f}" in line and len(line) <= 120
    assert not any("started with configuration" in l or l.startswith("│") for l in printed)
    # The summary's last message ("wrote best/ ...", fitted to 120 columns) ends the output: nothing of Ray's after it.
    last = max(i for i, line in enumerate(printed) if line.startswith("wrote "))
    assert all(len(line) <= 120 and not line.startswith(("(", "[")) for line in printed[last:])

    metrics = json.loads((best / "metrics.json").read_text())
    assert metrics["task"] == name and metrics["trial_id"] in {r["trial_id"] for r in rows}
    assert {"task", "trial_id", "hyperparameters", "val", "test", "onnx"} <= set(metrics)
    assert set(task.metric_names) <= set(metrics["val"]) and set(task.metric_names) <= set(metrics["test"])
    assert metrics["onnx"]["max_abs_diff"] < 1e-4

    # The ONNX file computes what the checkpoint's model computes, on inputs of other sizes.
    checkpoint = load_checkpoint(best / "model.pt")  # weights_only=True
    model = task.load_model(checkpoint)
    spec = task.onnx_spec(checkpoint["model_args"])
    inputs = spec.example_inputs(3, True)
    onnx_out = ort.InferenceSession(str(best / "model.onnx")).run(
        None, {k: v.numpy() for k, v in zip(spec.input_names, inputs)})[0]
    with torch.no_grad():
        assert np.abs(onnx_out - model(*inputs).numpy()).max() < 1e-4

    report = (best / "report.md").read_text()
    assert "Test data" in report and (best / "history.png").stat().st_size > 1000
    assert f"## Best trial `{metrics['trial_name']}`" in report  # the name every view shows, not Ray's id
    assert (best / "roc_det.png").stat().st_size > 1000
    config = yaml.safe_load((best / "config.yaml").read_text())
    assert config["task"] == name
    TASK_CHECKS.get(name, lambda *args: None)(tmp_path, best, rows, metrics, checkpoint, report, config)


def check_fusion(tmp_path, best, rows, metrics, checkpoint, report, config):
    # The MLP's knobs are active only for fusion_kind mlp (search_spaces/fusion.yaml): empty elsewhere.
    assert all(r["param_lr"] > 0 and r["param_hidden_sizes"].startswith("[") if r["param_fusion_kind"] == "mlp"
               else r["param_lr"] is None and r["param_hidden_sizes"] is None for r in rows)
    model = get_task("fusion").build_model(checkpoint["model_args"])
    model.load_state_dict(checkpoint["state_dict"])
    x = np.random.default_rng(1).standard_normal((3, checkpoint["model_args"]["in_dim"])).astype(np.float32)
    onnx_out = ort.InferenceSession(str(best / "model.onnx")).run(None, {"embeddings": x})[0]
    assert np.abs(onnx_out - model.eval()(torch.from_numpy(x)).detach().numpy()).max() < 1e-4
    assert set(VERIFICATION_KEYS) <= set(metrics["test"]) and set(VERIFICATION_KEYS) <= set(metrics["val"])
    assert set(metrics["test_baselines"]) == {"score_average", "embedding_average"}
    assert report.splitlines()[2].startswith("**Verdict.**") and metrics["verdict"]["unit"] == "identities"
    # config.yaml re-runs the best trial with faceauth.train.
    assert config["task"] == "fusion" and all(config[k] == v for k, v in metrics["hyperparameters"].items()
                                              if not isinstance(v, list))
    assert train_cli.main(["--config", str(best / "config.yaml"), "--output", str(tmp_path / "rerun.pth"),
                           "--log-dir", str(tmp_path / "logs")]) == 0


def check_liveness(tmp_path, best, rows, metrics, checkpoint, report, config):
    assert len(rows) == 2 and all(r["param_image_size"] in (48, 64) for r in rows)
    assert set(PAD_KEYS) <= set(metrics["val"]) and set(PAD_KEYS) <= set(metrics["test"])
    assert {"apcer_print", "apcer_replay", "apcer_mask", "apcer_worst"} <= set(metrics["test"])
    assert metrics["test"]["threshold"] == metrics["val"]["threshold"] == metrics["deployment"]["threshold"]
    assert metrics["deployment"]["channel_order"] == "RGB" and metrics["onnx"]["max_abs_diff"] < 1e-4
    size = checkpoint["model_args"]["image_size"]
    x = np.random.default_rng(1).random((4, 3, size, size), dtype=np.float32)
    model = get_task("liveness").build_model(checkpoint["model_args"])
    model.load_state_dict(checkpoint["state_dict"])
    onnx_out = ort.InferenceSession(str(best / "model.onnx")).run(None, {"image": x})[0]
    assert np.abs(onnx_out - model.eval()(torch.from_numpy(x)).detach().numpy()).max() < 1e-4
    assert "apcer_worst" in report and (best / "roc_det.png").stat().st_size > 1000


def check_temporal(tmp_path, best, rows, metrics, checkpoint, report, config):
    # The LSTM's knobs are active only for temporal_kind lstm (search_spaces/temporal.yaml): empty elsewhere.
    assert all(r["param_seq_len"] >= 2 and (isinstance(r["param_bidirectional"], bool) if r["param_temporal_kind"] == "lstm"
                                            else r["param_bidirectional"] is None) for r in rows)
    assert metrics["task"] == "temporal" and metrics["metric"] == "eer" and metrics["mode"] == "min"
    assert set(PAD_KEYS) <= set(metrics["test"]) and metrics["onnx"]["max_abs_diff"] < 1e-4
    checked = metrics["onnx"]["checked_input_shapes"]["features"]  # another batch and another sequence length
    assert checked == [5, max(2, metrics["hyperparameters"]["seq_len"]) + 3, 76] and metrics["deployment"]["feature_size"] == 76
    assert metrics["deployment"]["threshold"] == metrics["val"]["threshold"]
    assert set(metrics["test_baselines"]) == {"time_blind_logreg", "frame_score_average", "lbp_logreg"}
    assert all("threshold" in m and "acer" in m for m in metrics["test_baselines"].values())
    assert (best / "model.onnx").stat().st_size > 1000 and "time_blind_logreg" in report
    assert config["task"] == "temporal" and config["synthetic"] is True


TASK_CHECKS = {"fusion": check_fusion, "liveness": check_liveness, "temporal": check_temporal}
