"""Embedding as a workflow: a folder of face images (DATA_DIR/person_id/image.jpg) embedded by ONNX
face-recognition models into one Parquet file, through the embedding cache. `faceauth embed` and
`faceauth.embed(...)` call it."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from faceauth.io.errors import FaceauthError
from faceauth.io.outputs import check_output
from faceauth.io.runlog import atomic_replace
from faceauth.tasks import get_task
from faceauth.tasks.fusion.config import FusionConfig
from faceauth.workflows.config import resolve_config


def write_parquet(table, path: Path, metadata: dict) -> Path:
    import pyarrow.parquet as pq

    table = table.replace_schema_metadata({b"faceauth": json.dumps(metadata).encode()})
    with atomic_replace(path) as tmp:  # a failed write (a full disk) leaves the old file whole
        pq.write_table(table, tmp)
    return path


@dataclass
class EmbedRequest:
    """A folder of face images to embed into `output`: `values` are the fusion config's keys (data_dir,
    embedders, cache_dir, skip_corrupt, embed_batch_size) over those of `config_file`'s fusion section.
    Built once: the config is resolved and checked here."""
    output: str | os.PathLike = "embeddings.parquet"
    config_file: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    config: FusionConfig = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.config = resolve_config(get_task("fusion"), self.config_file, dict(self.values))
        if self.config.data_dir is None:
            raise FaceauthError("name the image folder: python -m faceauth.embed DATA_DIR --embedder NAME=MODEL.onnx ...")


def embed_folder(request: EmbedRequest) -> dict[str, Any]:
    """Embed the request's images with its embedders into its Parquet file; returns what it wrote:
    output, images, identities, columns, skipped."""
    from faceauth.tasks.fusion.image_embeddings import embed_directory

    config, output = request.config, Path(request.output)
    check_output(output, "--output", [request.config_file])
    specs = config.embedder_specs()
    result = embed_directory(config.data_dir, specs, config.cache_dir, config.embed_batch_size, config.skip_corrupt)
    metadata = {"data_dir": str(config.data_dir), "embedders": [vars(spec) for spec in specs], "skipped": result.skipped}
    path = write_parquet(result.table(), output, metadata)
    return {"output": path, "images": len(result.files), "identities": len({f.identity for f in result.files}),
            "columns": ["identity", "path", *result.arrays], "skipped": result.skipped}
