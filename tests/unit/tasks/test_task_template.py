"""A fourth task is one Task subclass and one registration: a toy task defined here trains through
`faceauth.train` and runs a 2-trial smoke search through `faceauth.tune`, with no change anywhere
else. Also: the registry, the flags generated from a config's fields, and the generator hook."""

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from faceauth import datasets as datasets_cli
from faceauth import train as train_cli
from faceauth import tune as tune_cli
from faceauth.training.checkpoint import load_checkpoint
from faceauth.training.config import TrainConfig
from faceauth.training.fit import Objective, make_optimizer, optimizer_step
from faceauth.io.layout import SPLITS
from faceauth.evaluation.metrics import PAD_KEYS, pad_metrics
from faceauth.tasks import Evaluation, OnnxSpec, Task, TrainingRun, get_task, list_tasks, register, unregister
from tests.run_readers import trials


@dataclass(frozen=True)
class ToyConfig(TrainConfig):
    samples: int = 96  # points per split
    hidden: int = 4
    data_seed: int = 0
    output: str = "toy.pth"

    def output_path(self) -> Path:
        return Path(self.output)


def toy_split(config: ToyConfig, split: str) -> tuple[torch.Tensor, np.ndarray]:
    """Two overlapping Gaussian blobs in 2-D: attack (True) around (1, 1), bona fide around (-1, -1)."""
    rng = np.random.default_rng([config.data_seed, SPLITS.index(split)])
    attack = rng.random(config.samples) < 0.5
    x = rng.normal(size=(config.samples, 2)) + np.where(attack[:, None], 1.0, -1.0)
    return torch.from_numpy(x.astype(np.float32)), attack


class ToyModel(torch.nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(2, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[:, 0]


class ToyTask(Task):
    name = "toy"
    description = "a two-blob classifier, for tests"
    config_cls = ToyConfig
    objective = Objective("eer", "min")
    metric_names = PAD_KEYS
    kind = "pad"
    smoke = {"epochs": 2, "samples": 48}
    flags = {"samples": {"help": "points per split"}, "hidden": {}, "output": {"metavar": "PATH"}}

    def prepare(self, config, session):
        x, attack = toy_split(config, "train")
        x_val, attack_val = toy_split(config, "val")
        model = session.prepare_model(self.build_model({"hidden": config.hidden}), session.device(config.device))
        optimizer = make_optimizer(model.parameters(), config)
        target = torch.from_numpy(attack.astype(np.float32))

        def train_epoch(epoch: int) -> float:
            return float(optimizer_step(optimizer, F.binary_cross_entropy_with_logits(model(x), target)))

        def validate() -> dict[str, float]:
            scores = torch.sigmoid(model(x_val)).double().numpy()
            return pad_metrics(scores[attack_val], scores[~attack_val])

        return TrainingRun(model=model, model_args={"hidden": config.hidden}, validate=validate,
                           train_epoch=train_epoch, optimizer=optimizer)

    def build_model(self, model_args):
        return ToyModel(model_args["hidden"])

    def evaluate(self, checkpoint, test_data=None):
        x, attack = toy_split(self.config(checkpoint["config"]), "test")
        with torch.no_grad():
            scores = torch.sigmoid(self.load_model(checkpoint)(x)).double().numpy()
        metrics = pad_metrics(scores[attack], scores[~attack], checkpoint["metrics"]["threshold"])
        return Evaluation({"toy": metrics}, {"toy": (scores[attack], scores[~attack])}, {"data": "toy test split"})

    def onnx_spec(self, model_args):
        return OnnxSpec(("x",), ("attack_logit",), {"x": {0: "batch"}}, lambda batch, check: (torch.randn(batch, 2),))

    def check_data(self, config):
        return f"{config.samples} toy points per split"


@pytest.fixture
def toy():
    import ray.cloudpickle

    # The trials unpickle the task in Ray's worker processes: send this test module's code by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    register(ToyTask)
    yield get_task("toy")
    unregister("toy")
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


@pytest.mark.usefixtures("shared_ray")
def test_a_task_defined_outside_the_package_trains_and_searches(tmp_path, toy):
    assert "toy" in list_tasks() and isinstance(toy, ToyTask)
    # faceauth.train: the task's flags come from its config's fields (--samples, --hidden, --output).
    output = tmp_path / "toy.pth"
    assert train_cli.main(["toy", "--smoke-test", "--hidden", "3", "--output", str(output),
                           "--log-dir", str(tmp_path / "logs")]) == 0
    checkpoint = load_checkpoint(output)
    assert checkpoint["task"] == "toy" and checkpoint["model_args"] == {"hidden": 3}
    assert checkpoint["config"]["samples"] == 48 and checkpoint["epoch"] <= 2
    saved = json.loads(output.with_name("toy.metrics.json").read_text())
    assert set(PAD_KEYS) <= set(saved["test"]) and saved["verdict"] is None

    # faceauth.tune: a 2-trial smoke search on a real local Ray, its best model exported and checked.
    space = tmp_path / "toy.yaml"
    space.write_text(yaml.safe_dump({"metric": "eer", "mode": "min",
                                     "parameters": {"lr": {"type": "log_float", "low": 1e-3, "high": 1e-1}}}))
    assert tune_cli.main(["toy", "--smoke-test", "--no-dashboard", "--num-cpus", "2", "--name", "toy",
                          "--storage", str(tmp_path / "runs"), "--search-space", str(space),
                          "--log-dir", str(tmp_path / "logs")]) == 0
    rows = trials(tmp_path / "runs" / "toy")
    assert len(rows) == 2 and {r["status"] for r in rows} <= {"completed", "early_stopped", "stopped_by_scheduler"}
    best = tmp_path / "runs" / "toy" / "best"
    metrics = json.loads((best / "metrics.json").read_text())
    assert metrics["task"] == "toy" and metrics["metric"] == "eer" and metrics["onnx"]["max_abs_diff"] < 1e-4
    assert (best / "roc_det.png").stat().st_size > 1000 and "Test data" in (best / "report.md").read_text()


def test_a_second_task_of_the_same_name_is_refused(toy):
    class Other(ToyTask):
        pass

    with pytest.raises(ValueError, match="registered twice"):
        register(Other)


def test_flags_follow_the_config_fields(capsys):
    with pytest.raises(SystemExit):
        train_cli.main(["liveness", "--help"])
    text = capsys.readouterr().out
    # A bool that defaults to True becomes --no_<name>; a Literal becomes choices; both spellings exist.
    assert "--no_cache" in text and "--no-cache" in text and "{10,18,34}" in text and "--image-size" in text


def test_datasets_lists_every_task_with_a_generator_and_no_other(toy, capsys):
    with pytest.raises(SystemExit):
        datasets_cli.main(["--help"])
    text = capsys.readouterr().out
    assert all(name in text for name in ("fusion", "liveness", "temporal")) and "toy" not in text


# Fusion's smoke config trains through the command in test_fusion_train.py::test_smoke_test_flag.
@pytest.mark.parametrize("name", ["liveness", "temporal"])
def test_a_task_trains_its_own_smoke_config_through_the_template(small_config, name):
    from faceauth.train import train_once

    task = get_task(name)
    result = train_once(task, task.config(small_config(task)), verbose=False)
    assert result["checkpoint"]["task"] == name and result["checkpoint"]["epoch"] <= task.smoke["epochs"]
    assert set(task.metric_names) <= set(result["evaluation"].model_metrics)
    assert result["output_path"].exists() and [h["epoch"] for h in result["history"]][-1] <= task.smoke["epochs"]
