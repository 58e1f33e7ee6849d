"""The temporal liveness trainer end to end through its entry points, and one smoke search, on tiny
synthetic videos and real files."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
import yaml

from faceauth import evaluate as evaluate_cli
from faceauth import export as export_cli
from faceauth import train as train_cli
from faceauth.training.checkpoint import load_checkpoint
from faceauth.evaluation.metrics import PAD_KEYS
from faceauth.tasks.temporal.model import build_model

TINY = {"synthetic_per_class": 4, "synthetic_frames": 12, "synthetic_size": 32, "seq_len": 4, "hidden_size": 8,
        "num_layers": 2, "bidirectional": True, "epochs": 3, "batch_size": 8, "augment_strength": 0.5}


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({"seed": 3, "temporal": TINY}))
    return path


def test_train_evaluate_export_round_trip(tmp_path, tiny_config, capsys):
    out = tmp_path / "ckpt"
    assert train_cli.main(["temporal", "--synthetic", "--config", str(tiny_config), "--cache-dir", str(tmp_path / "cache"),
                           "--output-dir", str(out), "--log-dir", str(tmp_path / "logs")]) == 0
    printed = capsys.readouterr()
    assert "epoch   3/3" in printed.out and "best epoch" in printed.out and "SYNTHETIC" in printed.err
    model_path = out / "temporal_best.pth"
    checkpoint = load_checkpoint(model_path)  # weights_only=True inside
    assert checkpoint["task"] == "temporal" and checkpoint["model_args"]["bidirectional"] is True
    assert set(PAD_KEYS) <= set(checkpoint["metrics"]) and {"apcer_print", "apcer_replay"} <= set(checkpoint["metrics"])
    log = json.loads(next((tmp_path / "logs").glob("temporal-*.json")).read_text())
    assert log["epochs"][0]["epoch"] == 0  # the closed-form head, validated before any training
    assert log["seed"] == 3 and len(log["epochs"]) == 4 and log["config"]["seq_len"] == 4

    metrics_path = tmp_path / "eval.json"
    assert evaluate_cli.main(["--model-path", str(model_path), "--output-json", str(metrics_path)]) == 0
    evaluation = json.loads(metrics_path.read_text())
    test = evaluation["metrics"]["temporal_model"]
    assert set(PAD_KEYS) <= set(test) and test["threshold"] == checkpoint["metrics"]["threshold"]  # the val threshold
    assert evaluation["details"]["bona_fide_videos"] == 4 and evaluation["details"]["attack_videos"] == 4

    onnx_path = tmp_path / "temporal.onnx"
    assert export_cli.main(["--model-path", str(model_path), "--output-path", str(onnx_path)]) == 0
    assert "[5, 7, 76]" in capsys.readouterr().out  # parity checked at another batch and sequence length
    model = build_model(checkpoint["model_args"])
    model.load_state_dict(checkpoint["state_dict"])
    x = torch.randn(2, 9, 76)
    onnx_out = ort.InferenceSession(str(onnx_path)).run(None, {"features": x.numpy()})[0]
    assert np.abs(onnx_out - model.eval()(x).detach().numpy()).max() < 1e-4


def test_user_errors_exit_2_with_a_message(tmp_path, capsys):
    assert train_cli.main(["temporal", "--epochs", "1"]) == 2
    assert "--synthetic" in capsys.readouterr().err
    assert train_cli.main(["temporal", "--data-root", str(tmp_path / "nowhere")]) == 2
    assert "nowhere does not exist" in capsys.readouterr().err
    assert train_cli.main(["temporal", "--synthetic", "--frame-extractor", str(tmp_path / "none.pth"),
                           "--cache-dir", str(tmp_path)]) == 2
    assert "frame extractor" in capsys.readouterr().err
