"""After the search: one row per trial (trials.parquet), and the best trial rebuilt from its checkpoint,
evaluated on the test split, exported to ONNX and checked, all written to `runs/<name>/best/`."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from faceauth.training.checkpoint import save_checkpoint
from faceauth.evaluation.cost import COST_KEYS
from faceauth.io.errors import FaceauthError
from faceauth.evaluation.onnx_export import set_metadata
from faceauth.evaluation.operating_point import apply_to_deployment, onnx_metadata, operating_point
from faceauth.io.runlog import atomic_replace, atomic_write_text, package_versions, to_jsonable
from faceauth.tuning.space import SearchSpace
from faceauth.training.session import CHECKPOINT_FILE
from faceauth.tasks import Evaluation, Task, load_task_checkpoint


@dataclass
class TrialRecord:
    trial_id: str
    name: str  # the trial's folder name, e.g. fusion_0007
    number: int | None  # its Optuna trial's number (the 7 of fusion_0007)
    folder: str  # where Ray keeps its results, checkpoint and TensorBoard files
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    hyperparameters: dict[str, Any]
    status: str  # completed | early_stopped | stopped_by_scheduler | failed | interrupted | not_started
    error: str | None
    epochs_run: int
    best: float | None
    last: dict[str, float]
    wall_time_s: float
    loop_time_s: float
    checkpoint: Any  # a ray.tune.Checkpoint (or None)
    # The metrics of the report whose model the trial keeps (its `kept_epoch`; the last report when the
    # trainer did not say), with the deployment cost (faceauth.evaluation.cost) every report carries.
    kept: dict[str, float] = field(default_factory=dict)
    # The best value of the epochs that trained (epoch >= 1), kept or not: where a trained epoch did not
    # clearly beat the closed-form start (epoch 0), the trial keeps the start and `best` is the start's.
    best_trained: float | None = None


def collect_trials(results, space: SearchSpace, epochs: int) -> list[TrialRecord]:
    """Every trial of a ResultGrid, including failed and pending ones."""
    records = []
    for result in results:
        frame = result.metrics_dataframe
        rows = frame.to_dict("records") if frame is not None and len(frame) else []
        last = result.metrics or {}
        # The trial's best is that of the model it kept: fit reports best_<metric>, which moves only when
        # a checkpoint is kept (an epoch that scored higher but was not kept, e.g. within the noise of
        # a bootstrap, does not count). Trainers that do not report it: the best value of any epoch.
        kept = [r[f"best_{space.metric}"] for r in rows if _finite(r.get(f"best_{space.metric}"))]
        values = [r[space.metric] for r in rows if _finite(r.get(space.metric))]
        if kept:
            best = kept[-1]
        else:
            best = (max(values) if space.mode == "max" else min(values)) if values else None
        trained = [r[space.metric] for r in rows if (r.get("epoch") or 0) >= 1 and _finite(r.get(space.metric))]
        error = _error_line(result.error) if result.error else None
        epochs_run = int(max((r.get("epoch") or 0 for r in rows), default=0))
        if error:
            status = "failed"
        elif not rows:
            status = "not_started"
        elif epochs_run >= epochs or last.get("completed"):
            status = "completed"
        elif last.get("early_stopped"):
            status = "early_stopped"
        elif last.get("done"):  # Tune marks the result on which the scheduler stopped a trial as done
            status = "stopped_by_scheduler"
        else:  # the search ended (Ctrl-C, a killed driver) while the trial ran; a resume runs it again
            status = "interrupted"
        name = Path(result.path).name
        number = name.rsplit("_", 1)[-1]
        ended = float(last["timestamp"]) if _finite(last.get("timestamp")) else None
        records.append(TrialRecord(
            trial_id=str(last.get("trial_id") or name), name=name, number=int(number) if number.isdigit() else None,
            folder=str(result.path),
            # Ray stamps results to the second: both times are whole seconds.
            started_at=_utc(round(ended - float(last.get("time_total_s") or 0.0))) if ended is not None else None,
            ended_at=_utc(ended) if ended is not None else None,
            hyperparameters=space.decode({k: v for k, v in (result.config or {}).items() if k in space.parameters}),
            status=status, error=error, epochs_run=epochs_run, best=best,
            last={k: v for k, v in last.items() if isinstance(v, (int, float)) and not isinstance(v, bool)},
            wall_time_s=float(last.get("time_total_s") or 0.0),
            loop_time_s=float(last.get("loop_time_s") or 0.0),
            checkpoint=_checkpoint_of(result, rows),
            kept=_numbers(_kept_report(rows, last)),
            best_trained=(max(trained) if space.mode == "max" else min(trained)) if trained else None,
        ))
    return records


def _kept_report(rows: list[dict[str, Any]], last: dict[str, Any]) -> dict[str, Any]:
    kept_epoch = last.get("kept_epoch")
    matching = [r for r in rows if kept_epoch is not None and r.get("epoch") == kept_epoch]
    return matching[-1] if matching else last


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and _finite(v)}


def _error_line(error: BaseException) -> str:
    return reason_line(str(error)) or type(error).__name__


def reason_line(text: str) -> str:
    """The user-facing reason in an error's text: a FaceauthError's message, not Ray's wrapping traceback."""
    lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
    ours = [l for l in lines if "FaceauthError" in l or "TrainingDiverged" in l]
    return (ours or lines or [""])[-1]


def _utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and np.isfinite(value)


def _checkpoint_of(result, rows: list[dict[str, Any]]):
    """A Tune trial's checkpoint, or for a TorchTrainer trial the last checkpoint its rank 0 reported
    (TuneReportCallback passes its path as `checkpoint_path`; checkpoints are only sent on improvement,
    so the last is the best)."""
    if result.checkpoint is not None:
        return result.checkpoint
    paths = [r["checkpoint_path"] for r in rows if isinstance(r.get("checkpoint_path"), str)]
    if not paths:
        return None
    import ray.train

    return ray.train.Checkpoint(paths[-1], filesystem=result.filesystem)


def write_trials_table(records: list[TrialRecord], metric: str, path: Path,
                       extra: dict[str, dict[str, Any]] | None = None) -> Path:
    """One row per trial; `extra` adds per-trial values by trial id (e.g. feasible, pareto)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ray.tune.result import AUTO_RESULT_KEYS

    # Ray's own bookkeeping in every result, not the trainer's metrics.
    ray_keys = {*AUTO_RESULT_KEYS, "trial_id", "done", "checkpoint_path"}
    rows = []
    for r in sorted(records, key=lambda r: (r.number is None, r.number, r.name)):
        row = {"trial_number": r.number, "trial_name": r.name, "trial_id": r.trial_id, "status": r.status, "error": r.error,
               "epochs_run": r.epochs_run, f"best_{metric}": r.best, "started_at": r.started_at, "ended_at": r.ended_at,
               "wall_time_s": r.wall_time_s, "loop_time_s": r.loop_time_s, "trial_folder": r.folder}
        row.update({key: r.kept.get(key) for key in COST_KEYS})
        row.update({f"param_{k}": json.dumps(v) if isinstance(v, list) else v for k, v in r.hyperparameters.items()})
        row.update({f"last_{k}": v for k, v in r.last.items()
                    if k not in ray_keys and k != "loop_time_s" and not k.startswith(("time_", "timesteps_", "episodes_"))
                    and not k.endswith("iterations_since_restore")})
        row.update((extra or {}).get(r.trial_id, {}))
        rows.append(row)
    # Every row with every column (pyarrow takes the columns from the first row): a parameter inactive
    # in a trial, or a metric a failed trial never reported, is empty (null) there.
    columns = list(dict.fromkeys(key for row in rows for key in row))
    table = pa.Table.from_pylist([{key: row.get(key) for key in columns} for row in rows])
    # Typed even when no trial failed (an all-null column would have no type).
    for column, kind in (("error", pa.string()), ("started_at", pa.timestamp("us", tz="UTC")),
                         ("ended_at", pa.timestamp("us", tz="UTC")), ("trial_number", pa.int64())):
        table = table.set_column(table.schema.get_field_index(column), column, table[column].cast(kind))
    with atomic_replace(path) as tmp:
        pq.write_table(table, tmp)
    return path


def prune_checkpoints(records: list[TrialRecord], best: TrialRecord) -> None:
    """Once best/ is written, a finished search needs no other trial's checkpoint: a finished trial
    never resumes, and best/ holds the selected model. The best trial keeps its own."""
    for record in records:
        if record is best or record.checkpoint is None:
            continue
        try:
            record.checkpoint.filesystem.delete_dir(record.checkpoint.path)
        except OSError:  # already gone, or storage that refuses: the run is complete either way
            pass


def best_trial(records: list[TrialRecord], mode: str) -> TrialRecord:
    candidates = [r for r in records if r.best is not None and r.checkpoint is not None]
    if not candidates:
        raise FaceauthError("no trial reported a result with a checkpoint; see trials.parquet for each trial's status and error")
    return (max if mode == "max" else min)(candidates, key=lambda r: r.best)


def load_trial_checkpoint(record: TrialRecord) -> dict[str, Any]:
    with record.checkpoint.as_directory() as directory:
        return load_task_checkpoint(Path(directory) / CHECKPOINT_FILE)


def finalized(task: Task, record: TrialRecord) -> tuple[dict[str, Any], Evaluation, dict[str, Any] | None]:
    """A trial's kept model refitted (where the task does) and evaluated on the test data: (checkpoint,
    evaluation, verdict), as best/ gets it."""
    selected = load_trial_checkpoint(record)
    return task.finalize({k: v for k, v in selected.items() if k not in ("optimizer", "extra")})


def write_metrics_json(result: "BestResult", folder: Path) -> None:
    atomic_write_text(folder / "metrics.json", json.dumps(to_jsonable(result.metrics_json()), indent=2))


@dataclass
class BestResult:
    """The search's best trial after `finish_best`: what metrics.json holds, plus the evaluation (scores
    for the plots) and the kind of task (how the report labels them)."""

    task: str
    kind: str  # the task's kind: "verification" or "pad" (faceauth.tasks.base.SCORE_AXES)
    verdict: dict[str, Any] | None
    trial_id: str
    trial_name: str
    hyperparameters: dict[str, Any]
    metric: str
    mode: str
    best_epoch: int
    val: dict[str, float]
    test: dict[str, float]
    test_baselines: dict[str, dict[str, float]]
    test_data: dict[str, Any]
    onnx: dict[str, Any]
    deployment: dict[str, Any]
    search: dict[str, Any]
    versions: dict[str, str]
    evaluation: Evaluation
    # A protocol search (faceauth.workflows.protocols): the protocol, "folds", "aggregate" and what was exported.
    protocol: dict[str, Any] | None = None
    # The deployment cost of the trial's model (faceauth.evaluation.cost) and, in a search with several objectives
    # or constraints, the trial's place in it (faceauth.tuning.front.trial_summary).
    cost: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def metrics_json(self) -> dict[str, Any]:
        """metrics.json: every field but the evaluation's score arrays (and the kind, implied by the task)."""
        return {
            "task": self.task, "verdict": self.verdict, "trial_id": self.trial_id, "trial_name": self.trial_name,
            "hyperparameters": self.hyperparameters, "metric": self.metric, "mode": self.mode,
            "best_epoch": self.best_epoch, "val": self.val,
            "val_data": "validation identities/samples, model as selected (before any refit)",
            "test": self.test, "test_baselines": self.test_baselines, "test_data": self.test_data, "onnx": self.onnx,
            "deployment": self.deployment, "search": self.search, "versions": self.versions, **(self.protocol or {}),
            **({"cost": self.cost} if self.cost else {}),
            **({"benchmarks": self.evaluation.benchmarks} if self.evaluation.benchmarks else {}), **self.extra,
        }


def deployment_with_target(task: Task, checkpoint: dict[str, Any], evaluation: Evaluation,
                           target: tuple[str, float] | None) -> dict[str, Any]:
    deployment = task.deployment_info(checkpoint)
    if target is None:
        return deployment
    point = operating_point(*target, task.evaluate(checkpoint, None, "val"), evaluation)
    if "refit" in checkpoint["model_args"]:
        point["note"] = ("the exported model was refitted on the training and validation data: its validation rates "
                         "are optimistic, the test rates are the ones to trust")
    return apply_to_deployment(deployment, point)


def finish_best(task: Task, record: TrialRecord, space: SearchSpace, best_dir: Path,
                search_summary: dict[str, Any], extra: dict[str, Any] | None = None,
                target: tuple[str, float] | None = None) -> BestResult:
    """Rebuild, refit (where the task has it), evaluate on the test data with the verdict, export ONNX
    (parity checked) and write best/. `target` ("far" or "apcer", value): the operating point chosen
    on the validation split (faceauth.evaluation.operating_point) goes into `deployment` and the ONNX metadata."""
    checkpoint, evaluation, verdict = finalized(task, record)
    best_dir.mkdir(parents=True, exist_ok=True)
    save_checkpoint(checkpoint, best_dir / "model.pt")
    onnx = task.export_onnx(checkpoint, best_dir / "model.onnx")
    onnx["path"] = "model.onnx"
    systems = list(evaluation.metrics)
    result = BestResult(
        task=task.name, kind=task.kind, verdict=verdict, trial_id=record.trial_id, trial_name=record.name,
        hyperparameters=record.hyperparameters, metric=space.metric, mode=space.mode, best_epoch=checkpoint["epoch"],
        val=checkpoint["metrics"], test=evaluation.metrics[systems[0]],
        test_baselines={name: evaluation.metrics[name] for name in systems[1:]}, test_data=evaluation.details,
        onnx=onnx, deployment=deployment_with_target(task, checkpoint, evaluation, target), search=search_summary,
        versions=package_versions(), evaluation=evaluation,
        cost={k: record.kept[k] for k in COST_KEYS if k in record.kept}, extra=dict(extra or {}),
    )
    set_metadata(best_dir / "model.onnx", onnx_metadata(task.name, result.deployment))
    write_metrics_json(result, best_dir)
    atomic_write_text(best_dir / "config.yaml",
        f"# The best trial ({record.name}) of a {task.name} search. Re-run it with:\n"
        f"#   python -m faceauth.train --config {best_dir / 'config.yaml'}\n"
        + yaml.safe_dump({"task": task.name, **to_jsonable(checkpoint["config"])}, sort_keys=False)
    )
    return result
