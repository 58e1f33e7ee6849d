"""faceauth.export(...) and faceauth.embed(...): the export and embed workflows from Python, as the
commands run them (real ONNX embedders and images, a real onnxruntime check), with keywords checked
as the commands' flags are."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

import faceauth
from tests.unit.tasks.fusion.test_embed import ARCHITECTURES, build_embedders, write_faces


def test_embed_and_export_from_python(tmp_path):
    models = build_embedders(tmp_path)
    faces = write_faces(tmp_path / "faces", identities=14, per_identity=2)
    embedders = [f"{name}={path}{ARCHITECTURES[name][2]}" for name, (path, _) in models.items()]
    written = faceauth.embed(faces, embedders, tmp_path / "e.parquet", cache_dir=tmp_path / "cache")
    table = pq.read_table(tmp_path / "e.parquet")
    assert written["images"] == table.num_rows == 28 and written["identities"] == 14
    assert written["columns"] == table.column_names == ["identity", "path", *models]

    run = faceauth.train("fusion", embeddings=str(tmp_path / "e.parquet"), smoke_test=True, output=str(tmp_path / "f.pth"),
                         log_dir=str(tmp_path / "logs"))
    exported = faceauth.export(run.model_path, tmp_path / "f.onnx")
    assert exported["path"] == str(tmp_path / "f.onnx") and (tmp_path / "f.onnx").is_file()
    assert exported["max_abs_diff"] <= exported["tolerance"]


def test_keywords_are_checked_before_any_work(tmp_path):
    with pytest.raises(faceauth.FaceauthError, match="keyword output_path: 7 is of type int, not a path"):
        faceauth.export(tmp_path / "m.pth", 7)
    with pytest.raises(faceauth.FaceauthError, match="keyword embed_batch_size: invalid literal .*'many'"):
        faceauth.embed(tmp_path, ["a=a.onnx"], tmp_path / "e.parquet", embed_batch_size="many")
    with pytest.raises(faceauth.FaceauthError, match="name the image folder"):
        faceauth.embed(output=tmp_path / "e.parquet")
