"""Export as a workflow: a trained model to ONNX (dynamic batch axis), checked against onnxruntime.
`faceauth export` and `faceauth.export(...)` call it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faceauth.io.outputs import check_output
from faceauth.tasks import get_task, load_task_checkpoint


def export_model(model_path: str | Path, output_path: str | Path) -> dict[str, Any]:
    """The model at `model_path` as ONNX at `output_path` (checked before anything is loaded); returns
    the export's record: path, onnxruntime parity (max_abs_diff, tolerance), checked input shapes.
    Raises FaceauthError for a bad path or checkpoint and when onnxruntime disagrees beyond the tolerance."""
    check_output(output_path, "--output-path", [model_path])
    checkpoint = load_task_checkpoint(model_path)
    return get_task(checkpoint["task"]).export_onnx(checkpoint, output_path)
