"""A benchmark's images embedded as the field does it, once per embedder, cached as Parquet.

Each image is decoded and resized as the fusion task's image folders are (images.py), embedded as is
and flipped left-right, and the two embeddings are summed (insightface's "Accuracy-Flip": the sum of
`embeddings_list[0] + embeddings_list[1]` in recognition/arcface_torch/eval/verification.py); every
system normalises what it compares. The cache (default `.faceauth-cache/` beside the benchmark, or
`cache_dir`) holds `<name>-<key>-<benchmark>-flipsum.parquet` per embedder: <key> hashes the model
file's bytes and the preprocessing, <benchmark> the benchmark's content (a .bin's bytes; pairs.txt's
bytes and each image's path, size and time). A complete file is reused as it is; anything else is
recomputed.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from faceauth.io.errors import FaceauthError
from faceauth.io.files import file_sha256
from faceauth.io.log import logger
from faceauth.tasks.fusion.benchmarks import Benchmark, ImageSource
from faceauth.tasks.fusion.embedders import EmbedderSpec, OnnxEmbedder, open_embedders
from faceauth.tasks.fusion.image_embeddings import Log, Progress, batches_loaded, cache_folder, write_cache_table
from faceauth.tasks.fusion.images import load_resized

# Part of the cache file's name: what is stored is the sum of the image's and its mirror image's embedding.
FLIP_SUM = "flipsum"


def cache_path(folder: Path, spec: EmbedderSpec, benchmark: Benchmark) -> Path:
    key = spec.cache_key(file_sha256(Path(spec.path), "model file"))
    return folder / f"{spec.name}-{key}-{benchmark.content_hash[:12]}-{FLIP_SUM}.parquet"


def read_cached(path: Path, name: str, count: int) -> Optional[np.ndarray]:
    """The cached (count, D) array, or None where the file is missing, damaged or incomplete."""
    import pyarrow.parquet as pq

    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
        vectors = table.column(name).combine_chunks().flatten().to_numpy().reshape(table.num_rows, -1)
        order = table.column("image").to_numpy()
    except Exception:  # a damaged or foreign cache file is recomputed, not fatal
        return None
    if table.num_rows != count or not np.array_equal(order, np.arange(count)):
        return None
    return vectors.astype(np.float32, copy=False)


def write_cached(path: Path, name: str, vectors: np.ndarray) -> None:
    import pyarrow as pa

    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    write_cache_table(path, pa.table({"image": pa.array(np.arange(len(vectors)), pa.int64()),
                                      name: pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])}))


def decode(image: ImageSource, sizes: list[tuple[int, int]]):
    """The image at each input size, or why it could not be decoded (Pillow's reason, one line)."""
    try:
        return load_resized(io.BytesIO(image) if isinstance(image, bytes) else image, sizes)
    except Exception as err:  # Pillow raises UnidentifiedImageError, OSError, SyntaxError, ... for bad data
        reason = re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-f]+>", "", " ".join(str(err).split()))  # no memory address
        return f"{type(err).__name__}: {reason[:120]}"


def flip_summed(embedder: OnnxEmbedder, images: np.ndarray) -> np.ndarray:
    """embedding(image) + embedding(image flipped left-right), one onnxruntime call for both."""
    both = embedder(np.concatenate([images, images[:, :, ::-1]]))
    return both[:len(images)] + both[len(images):]


def check_sizes(arrays: dict[str, np.ndarray], expected: dict[str, int]) -> None:
    """Each embedder's embedding size is the one the fused model was trained on."""
    wrong = [f"'{name}' gives {array.shape[1]}-d embeddings, the model expects {expected[name]}"
             for name, array in arrays.items() if name in expected and array.shape[1] != expected[name]]
    if wrong:
        raise FaceauthError(f"embedder {'; '.join(wrong)} (its input_dims); pass the embedders the model was trained with")


def compute(benchmark: Benchmark, embedders: dict[str, OnnxEmbedder], batch_size: int, log: Log,
            expected: dict[str, int]) -> dict[str, np.ndarray]:
    """Every image through every embedder (decoded once for all); an image that cannot be decoded
    stops the run, naming it: a benchmark with an image left out is no longer the benchmark. The
    sizes are checked on the first batch, not after the whole benchmark."""
    sizes = sorted({e.input_size for e in embedders.values()})
    out: dict[str, list[np.ndarray]] = {name: [] for name in embedders}
    log(f"embedding the {len(benchmark.images)} images of {benchmark.name} with {', '.join(embedders)}, each as is and "
        f"flipped left-right (the two embeddings summed), batch {batch_size}")
    progress, done = Progress(len(benchmark.images), log), 0
    indices = list(range(len(benchmark.images)))
    for chunk, loaded in batches_loaded(indices, lambda i: decode(benchmark.images[i], sizes), batch_size):
        for index, images in zip(chunk, loaded):
            if isinstance(images, str):
                raise FaceauthError(f"{benchmark.path}: {benchmark.image_origin[index]} cannot be decoded ({images}); "
                                    f"the benchmark is damaged: download it again")
        for name, embedder in embedders.items():
            out[name].append(flip_summed(embedder, np.stack([images[embedder.input_size] for images in loaded])))
        if not done:
            check_sizes({name: parts[0] for name, parts in out.items()}, expected)
        done += len(chunk)
        progress.update(done)
    return {name: np.concatenate(parts) for name, parts in out.items()}


def embed_benchmark(benchmark: Benchmark, specs: Sequence[EmbedderSpec], expected: dict[str, int],
                    cache_dir: Optional[str] = None, batch_size: int = 32, log: Log = logger.info) -> dict[str, np.ndarray]:
    """{embedder name: (images, D) float32 flip-summed embeddings}, through the cache; `expected`: the
    embedding size of each embedder the model was trained on."""
    folder = cache_folder(benchmark.home, cache_dir)
    paths = {spec.name: cache_path(folder, spec, benchmark) for spec in specs}
    arrays = {spec.name: read_cached(paths[spec.name], spec.name, len(benchmark.images)) for spec in specs}
    check_sizes({name: array for name, array in arrays.items() if array is not None}, expected)
    todo = [spec for spec in specs if arrays[spec.name] is None]
    if todo:
        for name, vectors in compute(benchmark, open_embedders(todo), batch_size, log, expected).items():
            write_cached(paths[name], name, vectors)
            arrays[name] = vectors
    cached = [spec.name for spec in specs if spec not in todo]
    if cached:
        log(f"{benchmark.name}: {', '.join(cached)} embeddings from the cache {folder}")
    return arrays  # type: ignore[return-value]
