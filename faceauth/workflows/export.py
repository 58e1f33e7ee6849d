"""Export as a workflow: a trained model to ONNX (dynamic batch axis), checked against onnxruntime.
`faceauth export` and `faceauth.export(...)` call it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from faceauth.io.outputs import check_output
from faceauth.tasks import get_task, load_task_checkpoint


@dataclass(frozen=True)
class ExportRequest:
    model_path: str | os.PathLike  # a checkpoint of `faceauth train` or a search's best/model.pth
    output_path: str | os.PathLike  # the .onnx file; checked before anything is loaded


def export_model(request: ExportRequest) -> dict[str, Any]:
    """The model as ONNX; returns the export's record: path, onnxruntime parity (max_abs_diff,
    tolerance), checked input shapes. Raises FaceauthError for a bad path or checkpoint and when
    onnxruntime disagrees beyond the tolerance."""
    model_path, output_path = os.fspath(request.model_path), os.fspath(request.output_path)
    check_output(output_path, "--output-path", [model_path])
    checkpoint = load_task_checkpoint(model_path)
    return get_task(checkpoint["task"]).export_onnx(checkpoint, output_path)
