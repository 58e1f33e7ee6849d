"""`faceauth train`'s workflow: one run's config checked, its outputs checked before any training, the
model trained (faceauth.workflows.train.train_once) and its results written beside it. A protocol's
folds are trained by faceauth.workflows.protocols instead."""

from __future__ import annotations

from faceauth.io.errors import FaceauthError
from faceauth.io.formatting import format_metrics
from faceauth.io.log import logger
from faceauth.io.outputs import check_output
from faceauth.tasks import Task
from faceauth.training.config import TrainConfig, to_dict
from faceauth.workflows.config import resolve_config
from faceauth.workflows.protocols import check_protocol_config, on_protocol
from faceauth.workflows.train import result_paths, train_once, write_run_results


def run_training(task: Task, config_file: str | None, flags: dict, smoke_test: bool = False,
                 config: TrainConfig | None = None) -> dict:
    """One training run as the command does it, for the command and for `faceauth.train(...)`: the
    result of `train_once` plus "written" (the metrics and report files beside the model). `config`:
    the one the command already resolved from the same file and flags."""
    config = config or resolve_config(task, config_file, flags, smoke_test)
    check_protocol_config(task, config)
    if on_protocol(task, config):
        raise FaceauthError(f"protocol {config.protocol}: faceauth.train(...) trains one split; train every fold "
                            f"with `faceauth train {task.name} --protocol {config.protocol}`")
    output = config.output_path()
    inputs = [getattr(config, key, None) for key in ("embeddings", "test_data", "data_dir", "data_root", "frame_extractor")]
    for path in (output, *result_paths(output)):  # before training: a wrong output path costs nothing
        check_output(path, "--output", [config_file, *inputs])
    logger.info(f"training {task.name}: {format_metrics(to_dict(config), ('epochs', 'batch_size', 'lr', 'seed'))}")
    result = train_once(task, config)
    return {**result, "written": write_run_results(task, result)}
