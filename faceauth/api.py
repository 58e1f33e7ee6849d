"""faceauth from Python: a notebook or a pipeline calls what the commands call.

    import faceauth
    result = faceauth.search("fusion", trials=20, embeddings="train.parquet", epochs=30)
    result.test_metrics, result.baselines, result.verdict   # from best/metrics.json
    result.trials                                         # trials.parquet as a DataFrame
    result.study                                          # the Optuna study; result.result_grid: Ray's
    run = faceauth.train("fusion", synthetic=True, epochs=5, output="weights/fusion.pth")
    report = faceauth.evaluate("weights/fusion.pth")

Keyword arguments are the command's flags with underscores (`max_concurrent=2`, `no_dashboard=True`,
`smoke_test=True`) and the task's config keys (`lr=1e-3`, `embeddings=...`); `config_file` is
`--config`. A mistake raises `faceauth.FaceauthError` naming the key or file; nothing exits the
process. A search joins the Ray this process already started (`ray.init()`) and leaves it running;
without one it starts a local Ray and shuts it down at the end. Progress goes to the "faceauth"
logger (`logging.basicConfig(level=logging.INFO)` shows it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceauth.search.result import SearchResult


def search(task: str, trials: int | None = None, *, config_file: str | None = None, **options: Any) -> SearchResult:
    """Run a hyperparameter search of `task` as `faceauth tune` does; see the module docstring."""
    from faceauth import tune
    from faceauth.tasks import get_task

    get_task(task)  # an unknown task: FaceauthError naming the tasks, not argparse's exit
    parser, training = tune.build_parser(task)
    args = parser.parse_args([task])  # the command's defaults: one source for both
    args.trials, args.config = trials, config_file
    training_keys = {a.dest for a in training._group_actions} - {"config"}
    actions = {a.dest: a for a in parser._actions}
    flags = {}
    for key, value in options.items():
        action = actions.get(key)
        if action is not None and callable(action.type) and isinstance(value, str):
            value = action.type(value)  # e.g. data paths made absolute, as the command does
        if key in training_keys or not hasattr(args, key):
            flags[key] = value  # a config key; build_config names it when it is not one
        else:
            setattr(args, key, value)
    return tune.run_search(args, flags)


@dataclass
class TrainResult:
    model_path: Path
    metrics: dict[str, Any]  # <model>.metrics.json: verdict, val, test, test_baselines, deployment
    history: list[dict[str, Any]]  # each epoch's reported metrics
    written: list[Path]  # the metrics JSON and the report beside the model
    log_path: Path
    wall_time_s: float


def train(task: str | None = None, *, config_file: str | None = None, smoke_test: bool = False, **config: Any) -> TrainResult:
    """One training run as `faceauth train` does it: `task` (or the `task:` key of `config_file`) and
    config keys as keyword arguments."""
    import json

    from faceauth.cli import task_name_from
    from faceauth.tasks import get_task
    from faceauth.train import run_training

    result = run_training(get_task(task_name_from(task, config_file)), config_file, config, smoke_test)
    return TrainResult(Path(result["output_path"]), json.loads(Path(result["written"][0]).read_text()), result["history"],
                       result["written"], Path(result["log_path"]), result["wall_time_s"])


def evaluate(model_path: str | Path, test_data: str | None = None, output_json: str | Path | None = None) -> dict[str, Any]:
    """`faceauth evaluate`: the model beside its baselines on test data; returns what it writes to
    `output_json` (default <model>.eval.json): task, verdict, metrics by system, details."""
    from faceauth.evaluate import run_evaluation

    return run_evaluation(model_path, test_data, output_json)
