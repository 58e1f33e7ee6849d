"""faceauth from Python: a notebook or a pipeline calls what the commands call.

    import faceauth
    result = faceauth.search("fusion", trials=20, embeddings="train.parquet", epochs=30)
    result.test_metrics, result.baselines, result.verdict   # from best/metrics.json
    result.trials                                         # trials.parquet as a DataFrame
    result.study                                          # the Optuna study; result.result_grid: Ray's
    run = faceauth.train("fusion", synthetic=True, epochs=5, output="weights/fusion.pth")
    report = faceauth.evaluate("weights/fusion.pth")
    faceauth.export("weights/fusion.pth", "weights/fusion.onnx")
    faceauth.embed("faces/", ["arcface=arcface.onnx", "facenet=facenet.onnx"], "embeddings.parquet")
    faceauth.datasets("liveness", "data/liveness", per_class=50)   # synthetic data on disk

Keyword arguments are the command's flags with underscores (`max_concurrent=2`, `no_dashboard=True`,
`smoke_test=True`) and the task's config keys (`lr=1e-3`, `embeddings=...`); `config_file` is
`--config`. A mistake raises `faceauth.FaceauthError` naming the key or file; nothing exits the
process. A search joins the Ray this process already started (`ray.init()`) and leaves it running;
without one it starts a local Ray and shuts it down at the end. Progress goes to the "faceauth"
logger (`logging.basicConfig(level=logging.INFO)` shows it).
"""

from __future__ import annotations

import os
import types
from pathlib import Path
from typing import Any, Callable, Literal, Union, get_args, get_origin, get_type_hints

from faceauth.io.errors import FaceauthError

from faceauth.tuning.result import SearchResult
from faceauth.workflows.results import ProtocolTrainResult, TrainResult


def search(task: str, trials: int | None = None, *, config_file: str | None = None, **options: Any) -> SearchResult:
    """Run a hyperparameter search of `task` as `faceauth tune` does; see the module docstring. The
    keywords that are `SearchRequest` fields make the request; the others are training config keys."""
    from faceauth.tasks import get_task
    from faceauth.tuning.search import SearchRequest, run_search

    searched = get_task(task)  # an unknown task: FaceauthError naming the tasks
    request_hints = get_type_hints(SearchRequest)
    config_hints = get_type_hints(searched.config_cls)
    request, flags = {}, {}
    for key, value in {"trials": trials, **options}.items():
        if key in request_hints and key not in ("task", "config_file"):
            value = keyword_value(key, value, request_hints[key])
            request[key] = tuple(value) if isinstance(value, list) else value
        else:  # a config key; build_config names it when it is not one
            flags[key] = keyword_value(key, value, config_hints.get(key), searched.flags.get(key, {}).get("type"))
    return run_search(SearchRequest(task=task, config_file=config_file, **request), flags)


def keyword_value(key: str, value: Any, hint: Any, convert: Callable[[str], Any] | None = None) -> Any:
    """A keyword argument as the command's flag would have it, from the field's type: a string goes
    through `convert` (e.g. a data path made absolute) or is parsed as the number the field is, a path
    becomes a string, and anything else must already be of the field's kind; FaceauthError naming the
    keyword when it is not."""
    if value is None or hint is None:
        return value
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if get_origin(hint) in (Union, types.UnionType):
        hint = next(a for a in get_args(hint) if a is not type(None))
    try:
        if get_origin(hint) is Literal:
            choices = get_args(hint)
            if isinstance(value, str) and all(isinstance(c, int) for c in choices):
                value = int(value)
            if value not in choices:
                raise FaceauthError(f"keyword {key}: {value!r} is not one of {', '.join(map(str, choices))}")
        elif hint is bool:
            if not isinstance(value, bool):
                raise ValueError(f"{value!r} is not True or False")
        elif hint in (int, float):
            value = _number(value, hint)
        elif hint is str and not isinstance(value, str):
            raise ValueError(f"{value!r} is of type {type(value).__name__}, not a string")
        if convert is not None:
            value = [convert(v) for v in value] if isinstance(value, (list, tuple)) else convert(value)
    except (TypeError, ValueError) as err:
        raise FaceauthError(f"keyword {key}: {err}") from None
    return value


def _number(value: Any, kind: type) -> int | float:
    if isinstance(value, str):
        return kind(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or kind is int and not float(value).is_integer():
        raise ValueError(f"{value!r} is not {'an integer' if kind is int else 'a number'}")
    return kind(value)


def train(task: str | None = None, *, config_file: str | None = None, smoke_test: bool = False,
          **config: Any) -> TrainResult | ProtocolTrainResult:
    """One training run as `faceauth train` does it: `task` (or the `task:` key of `config_file`) and
    config keys as keyword arguments. With a `protocol` (liveness, temporal): every fold trained and
    scored, returned as a `ProtocolTrainResult`."""
    from faceauth.workflows.training_run import TrainRequest, run_training

    return run_training(TrainRequest(task, config_file, config, smoke_test))


def evaluate(model_path: str | Path, test_data: str | None = None, output_json: str | Path | None = None, *,
             benchmarks: list[str | Path] | None = None, embedders: list[str] | None = None,
             cache_dir: str | Path | None = None, protocol: str | None = None, protocol_objective: str = "worst",
             data_root: str | Path | None = None) -> dict[str, Any]:
    """`faceauth evaluate`: the model beside its baselines on test data; returns what it writes to
    `output_json` (default `<model>.eval.json`): task, verdict, metrics by system, details. With
    `benchmarks` (insightface .bin files, LFW folders or pairs.txt files) and `embedders`
    (["arcface=arcface.onnx", ...]): a fusion model on each benchmark instead, as `--benchmark` does;
    with `protocol`: a PAD model on each fold's test side, as `--protocol` does."""
    from faceauth.workflows.evaluate import EvaluateRequest
    from faceauth.workflows.evaluate import evaluate as run

    paths = {"model_path": model_path, "test_data": test_data, "output_json": output_json, "cache_dir": cache_dir,
             "data_root": data_root}
    for key, value in paths.items():
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise FaceauthError(f"keyword {key}: {value!r} is of type {type(value).__name__}, not a path")
    given = {key: os.fspath(value) for key, value in paths.items() if value is not None}
    objective = keyword_value("protocol_objective", protocol_objective, get_type_hints(EvaluateRequest)["protocol_objective"])
    return run(EvaluateRequest(**given, protocol=protocol, protocol_objective=objective,
                               benchmarks=tuple(os.fspath(b) for b in benchmarks or ()), embedders=tuple(embedders or ())))


def export(model_path: str | Path, output_path: str | Path) -> dict[str, Any]:
    """`faceauth export`: the model as ONNX, checked against onnxruntime; returns the export's record
    (path, max_abs_diff, tolerance, checked_input_shapes)."""
    from faceauth.workflows.export import ExportRequest, export_model

    for key, value in (("model_path", model_path), ("output_path", output_path)):
        if not isinstance(value, (str, os.PathLike)):
            raise FaceauthError(f"keyword {key}: {value!r} is of type {type(value).__name__}, not a path")
    return export_model(ExportRequest(model_path, output_path))


def embed(data_dir: str | Path | None = None, embedders: list[str] | None = None, output: str | Path = "embeddings.parquet", *,
          config_file: str | None = None, **options: Any) -> dict[str, Any]:
    """`faceauth embed`: face images (`data_dir`/person_id/image.jpg) embedded by `embedders`
    (["arcface=arcface.onnx", ...]) into the Parquet file `output`; options: cache_dir, skip_corrupt,
    embed_batch_size. Returns what it wrote (output, images, identities, columns, skipped)."""
    from faceauth.tasks import get_task
    from faceauth.workflows.embed import EmbedRequest, embed_folder

    fusion = get_task("fusion")
    hints = get_type_hints(fusion.config_cls)
    values = {key: keyword_value(key, value, hints.get(key), fusion.flags.get(key, {}).get("type"))
              for key, value in {"data_dir": data_dir, "embedders": embedders, **options}.items() if value is not None}
    return embed_folder(EmbedRequest(output, config_file, values))


def datasets(task: str, out_dir: str | Path, **options: Any) -> list[Path]:
    """`faceauth datasets`: `task`'s synthetic data written under `out_dir`, with the generator's options
    (`faceauth datasets TASK --help` lists them: e.g. per_class=50, difficulty=0.3); returns what it wrote."""
    from faceauth.workflows.datasets import DatasetRequest, write_dataset

    return write_dataset(DatasetRequest(task, out_dir, options)).written
