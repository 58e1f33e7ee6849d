"""Embedding as a workflow: a folder of face images (DATA_DIR/person_id/image.jpg) embedded by ONNX
face-recognition models into one Parquet file, through the embedding cache. `faceauth embed` and
`faceauth.embed(...)` call it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from faceauth.io.errors import FaceauthError
from faceauth.io.outputs import check_output
from faceauth.io.runlog import atomic_replace
from faceauth.tasks import get_task
from faceauth.workflows.config import resolve_config


def write_parquet(table, path: Path, metadata: dict) -> Path:
    import pyarrow.parquet as pq

    table = table.replace_schema_metadata({b"faceauth": json.dumps(metadata).encode()})
    with atomic_replace(path) as tmp:  # a failed write (a full disk) leaves the old file whole
        pq.write_table(table, tmp)
    return path


def embed_folder(output: str | Path = "embeddings.parquet", config_file: str | None = None, **values: Any) -> dict[str, Any]:
    """Embed `data_dir` with `embedders` (the fusion config's keys: data_dir, embedders, cache_dir,
    skip_corrupt, embed_batch_size; given here or in the config file's fusion section) into `output`.
    Returns what it wrote: output, images, identities, columns, skipped."""
    from faceauth.tasks.fusion.image_embeddings import embed_directory

    check_output(output, "--output", [config_file])
    config = resolve_config(get_task("fusion"), config_file, values)
    if config.data_dir is None:
        raise FaceauthError("name the image folder: python -m faceauth.embed DATA_DIR --embedder NAME=MODEL.onnx ...")
    specs = config.embedder_specs()
    result = embed_directory(config.data_dir, specs, config.cache_dir, config.embed_batch_size, config.skip_corrupt)
    metadata = {"data_dir": str(config.data_dir), "embedders": [vars(spec) for spec in specs], "skipped": result.skipped}
    path = write_parquet(result.table(), Path(output), metadata)
    return {"output": path, "images": len(result.files), "identities": len({f.identity for f in result.files}),
            "columns": ["identity", "path", *result.arrays], "skipped": result.skipped}
