"""The liveness trainer end to end through its entry points, on a tiny synthetic dataset on disk."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from faceauth import datasets as datasets_cli
from faceauth import evaluate as evaluate_cli
from faceauth import export as export_cli
from faceauth import train as train_cli
from faceauth.training.checkpoint import load_checkpoint
from faceauth.evaluation.metrics import PAD_KEYS, pad_metrics
from faceauth.tasks import get_task
from faceauth.tasks.liveness.model import build_model

TINY = ["--image-size", "32", "--width", "8", "--depth", "10", "--epochs", "2", "--batch_size", "8", "--lr", "0.003"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("liveness") / "data"
    assert datasets_cli.main(["liveness", str(root), "--per-class", "18", "--image-size", "32", "--difficulty", "0"]) == 0
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_root):
    """One training run through the command, with the seed's flags (snake_case and dashed)."""
    tmp = tmp_path_factory.mktemp("trained")
    assert train_cli.main(["liveness", "--data-root", str(data_root), "--output_dir", str(tmp / "checkpoints"),
                           "--cache-dir", str(tmp / "cache"), "--log-dir", str(tmp / "logs"), *TINY]) == 0
    return tmp


def test_train_evaluate_export_round_trip(tmp_path, data_root, trained):
    model_path = trained / "checkpoints" / "liveness_best.pth"
    checkpoint = load_checkpoint(model_path)
    assert checkpoint["task"] == "liveness" and checkpoint["model_args"]["image_size"] == 32
    assert set(PAD_KEYS) | {"threshold", "apcer_print", "apcer_replay", "apcer_mask", "apcer_worst"} <= set(checkpoint["metrics"])
    log = json.loads(next((trained / "logs").glob("liveness-*.json")).read_text())
    assert len(log["epochs"]) == 2 and log["config"]["data_root"] == str(data_root) and log["config"]["lr"] == 0.003

    # The test split folder or the data_root: both evaluate the same images at the val threshold.
    for test_data in (data_root / "test", data_root):
        out = tmp_path / "eval.json"
        assert evaluate_cli.main(["--model_path", str(model_path), "--test_data", str(test_data),
                                  "--output-json", str(out)]) == 0
        result = json.loads(out.read_text())
        metrics = result["metrics"]["liveness_resnet"]
        assert metrics["threshold"] == checkpoint["metrics"]["threshold"]
        assert result["details"]["bona_fide"] == 9 and result["details"]["attacks"] == 9

    onnx_path = tmp_path / "liveness.onnx"
    assert export_cli.main(["--model-path", str(model_path), "--output-path", str(onnx_path)]) == 0
    model = build_model(checkpoint["model_args"])
    model.load_state_dict(checkpoint["state_dict"])
    x = np.random.default_rng(0).random((3, 3, 32, 32), dtype=np.float32)
    onnx_out = ort.InferenceSession(str(onnx_path)).run(None, {"image": x})[0]
    assert onnx_out.shape == (3,)
    assert np.abs(onnx_out - model.eval()(torch.from_numpy(x)).detach().numpy()).max() < 1e-4


def test_evaluation_reports_apcer_per_attack_type_at_the_val_threshold(trained):
    checkpoint = load_checkpoint(trained / "checkpoints" / "liveness_best.pth")
    evaluation = get_task("liveness").evaluate(checkpoint, None)  # the test split of the data it was trained on
    metrics = evaluation.model_metrics
    attack, bonafide = evaluation.scores["liveness_resnet"]
    assert len(attack) == len(bonafide) == 9
    threshold = checkpoint["metrics"]["threshold"]
    types = np.repeat(["mask", "print", "replay"], 3)  # rows follow the sorted files: spoof/mask/, print/, replay/
    assert metrics == pytest.approx(pad_metrics(attack, bonafide, threshold, types))
    assert metrics["apcer_worst"] == max(metrics[f"apcer_{t}"] for t in ("print", "replay", "mask"))
    assert metrics["apcer"] == pytest.approx(np.mean(attack < threshold))


def test_user_errors_exit_2_with_a_message(tmp_path, capsys):
    assert train_cli.main(["liveness", "--epochs", "1"]) == 2
    assert "--synthetic" in capsys.readouterr().err
    assert train_cli.main(["liveness", "--data_root", str(tmp_path / "missing")]) == 2
    assert "missing does not exist" in capsys.readouterr().err
    assert train_cli.main(["liveness", "--synthetic", "--image-size", "8"]) == 2
    assert "'image_size' must lie in [16, 1024]" in capsys.readouterr().err
