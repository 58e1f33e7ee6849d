"""`faceauth train`'s workflow: a request checked once where it is built, its outputs checked before any
training, then one model trained (faceauth.workflows.train.train_once) with its results written beside
it, or, on a protocol, every fold trained and scored (faceauth.workflows.protocols)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from faceauth.io.formatting import format_metrics
from faceauth.io.log import logger
from faceauth.io.outputs import check_output
from faceauth.tasks import Task, get_task
from faceauth.training.config import TrainConfig, to_dict
from faceauth.workflows.config import resolve_config, task_name_from
from faceauth.workflows.protocols import (check_protocol_config, headline_verdict, on_protocol, train_protocol,
                                          write_protocol_run)
from faceauth.workflows.results import ProtocolTrainResult, TrainResult
from faceauth.workflows.train import result_paths, train_once, write_run_results


@dataclass
class TrainRequest:
    """One training run: `task` (or the `task:` key of `config_file`, e.g. a search's best config.yaml),
    config `values` over the file's (flags, keyword arguments), `smoke_test` for a few steps on tiny
    data. Built once: the typed `config` is resolved and checked here, with the errors the command gives."""
    task: str | None = None
    config_file: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    smoke_test: bool = False
    trainer: Task = field(init=False, repr=False)
    config: TrainConfig = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.trainer = get_task(task_name_from(self.task, self.config_file))
        self.task = self.trainer.name
        self.config = resolve_config(self.trainer, self.config_file, dict(self.values), self.smoke_test)
        check_protocol_config(self.trainer, self.config)


def run_training(request: TrainRequest) -> TrainResult | ProtocolTrainResult:
    """Train as `faceauth train` does: one model, or every fold of the config's protocol."""
    task, config = request.trainer, request.config
    if on_protocol(task, config):
        return train_folds(task, config)
    output = config.output_path()
    inputs = [getattr(config, key, None) for key in ("embeddings", "test_data", "data_dir", "data_root", "frame_extractor")]
    for path in (output, *result_paths(output)):  # before training: a wrong output path costs nothing
        check_output(path, "--output", [request.config_file, *inputs])
    logger.info(f"training {task.name}: {format_metrics(to_dict(config), ('epochs', 'batch_size', 'lr', 'seed'))}")
    result = train_once(task, config)
    metrics, written = write_run_results(task, result)
    return TrainResult(Path(result["output_path"]), metrics, result["history"], written, Path(result["log_path"]),
                       result["wall_time_s"], result["evaluation"])


def train_folds(task: Task, config: TrainConfig) -> ProtocolTrainResult:
    """Every fold of the protocol trained and scored; the results beside the fold models
    (<output_dir>/protocol.metrics.json, protocol.report.md)."""
    results = train_protocol(task, config)
    folder = Path(config.output_dir)
    written = write_protocol_run(task, results, folder, f"{task.name} on protocol `{results['protocol']}`",
                                 {"protocol_objective": config.protocol_objective})
    return ProtocolTrainResult(results["protocol"], folder, results, headline_verdict(task, results), list(written),
                               results["wall_time_s"])
