"""The fusion trainer end to end through its entry points, on small synthetic data and real files."""

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from faceauth import evaluate as evaluate_cli
from faceauth import export as export_cli
from faceauth import train as train_cli
from faceauth.training.checkpoint import load_checkpoint
from faceauth.io.errors import FaceauthError
from faceauth.tasks.fusion.model import augment_embeddings
from faceauth.tasks.fusion.model import build_model
from tests.unit.tasks.fusion.test_fusion_data import write_parquet


def write_config(tmp_path, small_fusion, **extra):
    import yaml

    path = tmp_path / "cfg.yaml"
    rest = {k: v for k, v in small_fusion.items() if k not in ("synthetic", "output", "log_dir")}
    path.write_text(yaml.safe_dump({**rest, **extra}))
    return path


def test_train_evaluate_export_round_trip(tmp_path, small_fusion, capsys):
    # A validation split twice the test split's size: figures of the wrong split cannot pass for the test's.
    config = write_config(tmp_path, {**small_fusion, "val_fraction": 0.3})
    assert train_cli.main(["fusion", "--synthetic", "--config", str(config), "--output", small_fusion["output"],
                           "--log-dir", small_fusion["log_dir"]]) == 0
    out = capsys.readouterr().out
    assert "epoch   2/2" in out and "best epoch" in out
    # The verdict comes first in the summary, before the validation figures.
    summary = out[out.index("epoch   2/2"):]
    assert summary.index("score_average") < summary.index("best epoch")

    checkpoint = load_checkpoint(small_fusion["output"])  # weights_only=True inside
    assert checkpoint["task"] == "fusion" and checkpoint["model_args"]["in_dim"] == 96
    model = build_model(checkpoint["model_args"])
    model.load_state_dict(checkpoint["state_dict"])  # the checkpoint rebuilds its own model
    # Refitted on training + validation identities: 30 identities less the 15% test split (4).
    assert checkpoint["model_args"]["refit"]["identities"] == 26

    log = json.loads(next((tmp_path / "logs").glob("fusion-*.json")).read_text())
    assert log["seed"] == 42 and log["config"]["num_identities"] == 30
    assert [e["epoch"] for e in log["epochs"]] == [0, 1, 2] and "tar_at_far_1e-3" in log["epochs"][0]
    results = json.loads((tmp_path / "fusion.metrics.json").read_text())
    assert list(results)[:2] == ["task", "verdict"] and set(results["verdict"]["baselines"]) == {"score_average", "embedding_average"}
    assert results["verdict"]["unit"] == "identities" and results["verdict"]["units"] == 4
    assert (tmp_path / "fusion.report.md").read_text().splitlines()[2].startswith("**Verdict.**")
    assert log["versions"]["torch"] and log["versions"]["ray"] and log["best_val"]

    metrics_path = tmp_path / "eval.json"
    assert evaluate_cli.main(["--model-path", small_fusion["output"], "--output-json", str(metrics_path)]) == 0
    metrics = json.loads(metrics_path.read_text())["metrics"]
    assert set(metrics) == {"fused", "score_average", "embedding_average"}
    assert set(metrics["fused"]) == {"eer", "roc_auc", "tar_at_far_1e-2", "tar_at_far_1e-3", "tar_at_far_1e-4", "accuracy", "threshold"}
    assert metrics["fused"]["tar_at_far_1e-4"] is None  # 2,000 impostor pairs are too few for FAR=1e-4

    onnx_path = tmp_path / "fusion.onnx"
    assert export_cli.main(["--model-path", small_fusion["output"], "--output-path", str(onnx_path)]) == 0
    session = ort.InferenceSession(str(onnx_path))
    x = np.random.default_rng(0).standard_normal((7, 96)).astype(np.float32)
    x[3] = 0  # a zero vector must stay finite through the L2 normalisation
    onnx_out = session.run(None, {"embeddings": x})[0]
    torch_out = model.eval()(torch.from_numpy(x)).detach().numpy()
    assert np.isfinite(onnx_out).all() and np.abs(onnx_out - torch_out).max() < 1e-4


def test_same_seed_same_metrics(tmp_path, small_fusion):
    config = write_config(tmp_path, small_fusion, augment_strength=0.5, dropout=0.2)
    histories = []
    for run in range(2):
        out = tmp_path / f"m{run}.pth"
        assert train_cli.main(["fusion", "--synthetic", "--config", str(config), "--output", str(out),
                               "--log-dir", str(tmp_path / f"logs{run}")]) == 0
        histories.append(json.loads(next((tmp_path / f"logs{run}").glob("*.json")).read_text())["epochs"])
    strip = lambda h: [{k: v for k, v in e.items() if k != "epoch_time_s"} for e in h]  # noqa: E731
    assert strip(histories[0]) == strip(histories[1])


def test_evaluate_on_a_parquet_test_file(tmp_path, small_fusion):

    config = write_config(tmp_path, small_fusion, epochs=1)
    assert train_cli.main(["fusion", "--synthetic", "--config", str(config), "--output", small_fusion["output"],
                           "--log-dir", small_fusion["log_dir"]]) == 0
    identities = [f"p{i}" for i in range(6) for _ in range(4)]
    test_file = write_parquet(tmp_path / "test.parquet", identities, dims=(32, 32, 32))
    out = tmp_path / "eval.json"
    assert evaluate_cli.main(["--model-path", small_fusion["output"], "--test-data", str(test_file),
                              "--output-json", str(out)]) == 0
    details = json.loads(out.read_text())["details"]
    assert details["identities"] == 6 and details["genuine_pairs"] == 6 * 6
    wrong = write_parquet(tmp_path / "wrong.parquet", identities, dims=(16, 32, 32))
    assert evaluate_cli.main(["--model-path", small_fusion["output"], "--test-data", str(wrong)]) == 2


def test_user_errors_exit_2_with_a_message(tmp_path, capsys):
    assert train_cli.main(["fusion", "--epochs", "2"]) == 2
    assert "--synthetic" in capsys.readouterr().err
    assert train_cli.main(["fusion", "--embeddings", str(tmp_path / "missing.parquet")]) == 2
    assert "missing.parquet does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    assert export_cli.main(["--model-path", str(bad), "--output-path", str(tmp_path / "x.onnx")]) == 2
    assert "could not be loaded safely" in capsys.readouterr().err


def test_smoke_test_flag(tmp_path):
    assert train_cli.main(["fusion", "--synthetic", "--smoke-test", "--output", str(tmp_path / "m.pth"),
                           "--log-dir", str(tmp_path)]) == 0
    assert load_checkpoint(tmp_path / "m.pth")["epoch"] <= 2


def test_augmentation_strength_zero_is_identity_and_never_drops_every_model():
    x = torch.randn(64, 12)
    assert torch.equal(augment_embeddings(x, [4, 4, 4], 0.0), x)
    out = augment_embeddings(x, [4, 4, 4], 1.0, torch.Generator().manual_seed(0))
    kept = torch.stack([p.abs().sum(1) > 0 for p in out.split(4, dim=1)], dim=1)
    assert kept.any(dim=1).all() and not kept.all()


def test_checkpoint_refuses_pickled_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "faceauth-checkpoint/1", "payload": Evil()}, path)
    with pytest.raises(FaceauthError, match="could not be loaded safely"):
        load_checkpoint(path)


@pytest.mark.parametrize("kept_epoch,kind,trained", [(2, "mlp", [1, 2]), (0, "mlp", []), (3, "linear", [])])
def test_refit_trains_as_many_epochs_as_the_selection_kept(tmp_path, monkeypatch, kept_epoch, kind, trained):
    from faceauth.training.config import to_dict
    from faceauth.tasks import get_task
    from faceauth.tasks.fusion.training import FusionTraining

    task = get_task("fusion")
    config = task.config({**task.smoke_overrides(), "synthetic": True, "fusion_kind": kind, "output": str(tmp_path / "m.pth"),
                          "log_dir": str(tmp_path / "logs")})
    epochs = []
    monkeypatch.setattr(FusionTraining, "train_epoch", lambda self, epoch: epochs.append(epoch) or 0.0)
    refitted = task.refit({"config": to_dict(config), "epoch": kept_epoch, "best": 0.5, "metrics": {},
                           "model_args": {"linear": {"kind": "score_average", "shrinkage": None}}})
    assert epochs == trained and refitted["model_args"]["refit"]["epochs"] == len(trained)
