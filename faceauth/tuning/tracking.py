"""Experiment tracking through Ray's logger callbacks: MLflow (`--mlflow [URI]`) and Weights & Biases
(`--wandb PROJECT`). Every trial becomes a run with its hyperparameters and per-epoch metrics; when the
search ends, the best trial's run gets the best/ folder (model, ONNX, report, metrics) as artifacts.
TensorBoard event files are always written, one folder per trial (faceauth.tuning.tensorboard_runs).

Both are optional extras: `pip install 'faceauth[mlflow]'`, `pip install 'faceauth[wandb]'`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceauth.io.errors import FaceauthError
from faceauth.io.log import logger


@dataclass(frozen=True)
class Tracking:
    mlflow_uri: str | None  # a server URL or a local folder
    mlflow_experiment: str
    wandb_project: str | None
    search_name: str

    def check(self) -> None:
        """Before Ray starts: the client libraries are installed."""
        for wanted, module, extra in ((self.mlflow_uri, "mlflow", "mlflow"), (self.wandb_project, "wandb", "wandb")):
            if wanted:
                try:
                    __import__(module)
                except ImportError:
                    raise FaceauthError(f"--{extra} needs the {module} package: pip install 'faceauth[{extra}]'") from None
        if (self.mlflow_tracking_uri or "").startswith("file:"):
            # MLflow 3 keeps its folder store in maintenance mode and refuses it unless allowed; a folder
            # is what --mlflow asks for here (a database store needs the full mlflow package).
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        if self.mlflow_uri:
            check_mlflow_uri(self.mlflow_tracking_uri)

    def record(self) -> dict[str, str | None]:
        """What faceauth-search.json keeps, so that a resume tracks where the search started."""
        return {"mlflow": self.mlflow_tracking_uri, "mlflow_experiment": self.mlflow_experiment if self.mlflow_uri else None,
                "wandb": self.wandb_project}

    @classmethod
    def from_record(cls, record: dict, search_name: str) -> "Tracking":
        if not isinstance(record, dict):
            raise FaceauthError("faceauth-search.json: 'tracking' is not a mapping; the run folder was altered")
        return cls(record.get("mlflow"), record.get("mlflow_experiment") or search_name, record.get("wandb"), search_name)

    @property
    def mlflow_tracking_uri(self) -> str | None:
        if not self.mlflow_uri:
            return None
        # A bare folder becomes an absolute file: URI, so that it means the same wherever it is read.
        return self.mlflow_uri if "://" in self.mlflow_uri or self.mlflow_uri.startswith("file:") \
            else Path(self.mlflow_uri).expanduser().resolve().as_uri()

    def callbacks(self) -> list[Any]:
        callbacks = tensorboard_callbacks()
        if self.mlflow_uri:
            from faceauth.tuning.mlflow_runs import FaceauthMLflowCallback

            callbacks.append(FaceauthMLflowCallback(tracking_uri=self.mlflow_tracking_uri, experiment_name=self.mlflow_experiment,
                                                    tags={"faceauth_search": self.search_name}))
        if self.wandb_project:
            from faceauth.tuning.wandb_runs import FaceauthWandbCallback

            callbacks.append(FaceauthWandbCallback(project=self.wandb_project, group=self.search_name, **_wandb_mode()))
        return callbacks


def tensorboard_callbacks() -> list[Any]:
    """faceauth's TensorBoard writer, which also keeps Tune from adding its own (see its module)."""
    try:
        from faceauth.tuning.tensorboard_runs import FaceauthTensorBoardCallback

        return [FaceauthTensorBoardCallback()]
    except ImportError:  # no tensorboardX (ray[tune] installs it): a search without event files, as in Ray
        return []


def check_mlflow_uri(uri: str) -> None:
    """An MLflow tracking URI that MLflow cannot use (an unknown scheme, a folder store it refuses) is named now,
    not as a traceback from Ray's callback once the search has started. A server is not contacted here."""
    try:
        from mlflow.tracking._tracking_service.utils import _get_store
    except ImportError:  # where MLflow keeps its store registry moved: the search reports what MLflow says
        return
    try:
        _get_store(uri)
    except Exception as err:  # MLflow raises its own exception classes per scheme
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FaceauthError(f"--mlflow {uri}: MLflow cannot use it ({reason}); pass a server (http://host:5000), "
                            "a database URI (sqlite:///mlflow.db) or a local folder") from None


def _wandb_mode() -> dict[str, str]:
    # The logging actors may run in processes started before WANDB_MODE was set: pass it on.
    return {"mode": os.environ["WANDB_MODE"]} if os.environ.get("WANDB_MODE") else {}


def log_best_artifacts(tracking: Tracking, result) -> None:
    """best/ as artifacts of the best trial's MLflow run, and as a W&B model artifact."""
    best_dir, metrics = result.best_dir, result.metrics
    if best_dir is None:
        return
    trial_name = metrics.get("trial_name")
    if tracking.mlflow_uri:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=tracking.mlflow_tracking_uri)
        experiment = client.get_experiment_by_name(tracking.mlflow_experiment)
        runs = client.search_runs([experiment.experiment_id], filter_string=f"tags.trial_name = '{trial_name}'") if experiment else []
        if runs:
            run_id = runs[0].info.run_id
            client.log_artifacts(run_id, str(best_dir), artifact_path="best")
            client.set_tag(run_id, "faceauth_best", "true")
            for key, value in metrics.get("test", {}).items():
                if isinstance(value, (int, float)):
                    client.log_metric(run_id, f"test_{key}", float(value))
            # MLflow 3's UI opens an experiment on its GenAI traces page: this address shows the runs.
            page = f"#/experiments/{experiment.experiment_id}/runs"
            runs_page = (f"{tracking.mlflow_tracking_uri.rstrip('/')}/{page}" if tracking.mlflow_tracking_uri.startswith("http")
                         else f"in `mlflow ui`, http://127.0.0.1:5000/{page}")
            logger.info(f"MLflow: best/ logged to run {run_id} ({trial_name}) of experiment '{tracking.mlflow_experiment}' "
                        f"at {tracking.mlflow_tracking_uri}\n  the experiment's runs: {runs_page}")
        else:
            logger.warning(f"MLflow: no run of trial {trial_name} in experiment '{tracking.mlflow_experiment}'; best/ not logged")
    if tracking.wandb_project:
        import wandb

        run = wandb.init(project=tracking.wandb_project, group=tracking.search_name, name=f"{tracking.search_name}-best",
                         job_type="best", dir=str(result.run_dir), config={"trial_name": trial_name,
                                                                           **metrics.get("hyperparameters", {})},
                         **_wandb_mode())
        run.summary.update({f"test_{k}": v for k, v in metrics.get("test", {}).items() if isinstance(v, (int, float))})
        artifact = wandb.Artifact(f"{tracking.search_name}-best", type="model")
        artifact.add_dir(str(best_dir))
        run.log_artifact(artifact)
        run.finish()
        logger.info(f"W&B: best/ logged as artifact {tracking.search_name}-best in project '{tracking.wandb_project}'")
