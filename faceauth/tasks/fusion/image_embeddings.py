"""Embeddings of a folder of face images, computed once with ONNX embedders and cached as Parquet.

    python -m faceauth.embed faces/ --embedder arcface=arcface.onnx --output embeddings.parquet

The cache (default `data_dir/.faceauth-cache/`, or `cache_dir`) holds one Parquet file per embedder,
`<name>-<key>-<folder>.parquet`, where the key hashes the model file's bytes and the preprocessing
and <folder> hashes the image folder's absolute path (two folders of the same layout, file sizes and
times sharing a cache folder never serve each other's rows). Each has
the `--embeddings` schema for its one model (identity, path, a float32 list column named after the
embedder) plus the size and mtime_ns of every image. A row is reused while its image's (path, size,
mtime) is unchanged, so a changed image is re-embedded alone, and a changed model file or setting
makes a new file for that embedder alone. Old files of replaced models stay until the folder is
deleted (then they are simply recomputed).
"""

from __future__ import annotations

import functools
import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from faceauth.io.log import logger
from faceauth.io.errors import FaceauthError
from faceauth.tasks.fusion.embedding_set import EmbeddingSet, embedding_set
from faceauth.io.files import file_sha256
from faceauth.tasks.fusion.embedders import EmbedderSpec, OnnxEmbedder, listing, open_embedders
from faceauth.tasks.fusion.images import ImageFile, load_resized, scan_images, small_identities

CACHE_FOLDER = ".faceauth-cache"
Log = Callable[[str], None]


def _print(line: str) -> None:
    logger.info(line)


@dataclass
class DirectoryEmbeddings:
    """Every usable image of data_dir and its embedding by each embedder, in path order."""

    data_dir: Path
    cache: Path
    files: list[ImageFile]
    arrays: dict[str, np.ndarray]  # embedder name -> (N, D) float32
    computed: dict[str, int]  # images each embedder ran on (0 everywhere: all from the cache)
    skipped: list[str] = field(default_factory=list)  # "path: reason", with skip_corrupt

    def table(self):
        """The `--embeddings` schema: identity, path, one float32 list column per embedder."""
        return embeddings_table(self.files, self.arrays)

    def embedding_set(self) -> EmbeddingSet:
        source = f"{self.data_dir} ({len(self.files)} images; embedders {', '.join(self.arrays)})"
        identities = np.asarray([f.identity for f in self.files])
        return embedding_set(identities, self.arrays, source, "identity", [f.path for f in self.files])


def embeddings_table(files: Sequence[ImageFile], arrays: dict[str, np.ndarray], stats: bool = False):
    import pyarrow as pa

    columns: dict[str, Any] = {"identity": pa.array([f.identity for f in files], pa.string()),
                               "path": pa.array([f.path for f in files], pa.string())}
    if stats:
        columns["size"] = pa.array([f.size for f in files], pa.int64())
        columns["mtime_ns"] = pa.array([f.mtime_ns for f in files], pa.int64())
    for name, array in arrays.items():
        flat = pa.array(np.ascontiguousarray(array, dtype=np.float32).reshape(-1))
        columns[name] = pa.FixedSizeListArray.from_arrays(flat, array.shape[1])
    return pa.table(columns)


class EmbedderCache:
    """One embedder's cached rows for one image folder, `<cache>/<name>-<key>-<folder>.parquet`: image path ->
    (size, mtime_ns, vector)."""

    def __init__(self, folder: Path, spec: EmbedderSpec, root: Path):
        self.name = spec.name
        images = hashlib.sha256(str(root.expanduser().resolve()).encode()).hexdigest()[:12]
        self.path = folder / f"{spec.name}-{spec.cache_key(file_sha256(Path(spec.path), 'model file'))}-{images}.parquet"
        self.rows = self._read()
        self.changed = False

    def _read(self) -> dict[str, tuple[int, int, np.ndarray]]:
        import pyarrow.parquet as pq

        if not self.path.is_file():
            return {}
        try:
            table = pq.read_table(self.path)
            vectors = table.column(self.name).combine_chunks().flatten().to_numpy().reshape(table.num_rows, -1)
        except Exception:  # a damaged or foreign cache file is recomputed, not fatal
            return {}
        keys = zip(table.column("path").to_pylist(), table.column("size").to_pylist(), table.column("mtime_ns").to_pylist())
        return {path: (size, mtime, vectors[i]) for i, (path, size, mtime) in enumerate(keys)}

    def get(self, image: ImageFile) -> Optional[np.ndarray]:
        row = self.rows.get(image.path)
        return row[2] if row is not None and row[:2] == (image.size, image.mtime_ns) else None

    def put(self, image: ImageFile, vector: np.ndarray) -> None:
        self.rows[image.path] = (image.size, image.mtime_ns, vector)
        self.changed = True

    def save(self, files: list[ImageFile]) -> None:
        """Keep the rows of the current images; rewrite only when something changed, so that a run
        that found everything cached (e.g. concurrent Tune trials) never writes."""
        keep = [f for f in files if self.get(f) is not None]
        if not self.changed and len(keep) == len(self.rows):
            return
        if not keep:
            self.path.unlink(missing_ok=True)
            return
        write_cache_table(self.path, embeddings_table(keep, {self.name: np.stack([self.get(f) for f in keep])}, stats=True))


def write_cache_table(path: Path, table) -> None:
    """Write a cache file atomically (a concurrent reader sees the old file or the new one); a write
    error names the cache and the fix, not the image or benchmark being embedded."""
    import pyarrow.parquet as pq

    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, temporary)
        os.replace(temporary, path)
    except OSError as err:
        temporary.unlink(missing_ok=True)
        raise FaceauthError(f"cannot write the embedding cache {path} ({err.strerror or err}); "
                            f"set cache_dir (--cache-dir) to a writable folder") from None


def cache_folder(data_dir: Path, cache_dir: Optional[str]) -> Path:
    folder = Path(cache_dir) if cache_dir else data_dir / CACHE_FOLDER
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise FaceauthError(f"cannot create the embedding cache {folder} ({err.strerror}); "
                            f"set cache_dir (--cache-dir) to a writable folder") from None
    return folder


def usable_layout(root: Path, files: list[ImageFile], problems: list[str], skip_corrupt: bool) -> tuple[list[ImageFile], list[str]]:
    """Drop (with skip_corrupt) or refuse images outside identity folders and identities with one
    image; every one is listed."""
    singles = small_identities(files)
    problems = problems + [f"{name}/: only one image; each identity needs two or more for genuine pairs" for name in singles]
    if problems and not skip_corrupt:
        raise FaceauthError(f"{root}: " + listing("layout problem", problems)
                            + "\nAdd images or move these out of the folder, or pass --skip-corrupt to leave them out")
    dropped = set(singles)
    return [f for f in files if f.identity not in dropped], problems


class Progress:
    """A counter with rate and time left, printed at most every `every` seconds and at the end."""

    def __init__(self, total: int, log: Log, every: float = 2.0):
        self.total, self.log, self.every = total, log, every
        self.started = self.last = time.perf_counter()

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if now - self.last < self.every and done < self.total:
            return
        self.last = now
        rate = done / max(now - self.started, 1e-9)
        left = f", {(self.total - done) / rate:.0f}s left" if done < self.total else ""
        self.log(f"  embedded {done}/{self.total} images ({rate:.1f} images/s{left})")


Unreadable = dict[ImageFile, str]  # file -> why Pillow could not read it
Loaded = Union[dict[tuple[int, int], np.ndarray], str]  # the image at each input size, or why it failed
# Decoding and resizing run in threads (Pillow releases the GIL), one batch ahead of onnxruntime.
DECODE_THREADS = min(4, os.cpu_count() or 1)


def load_image(root: Path, image_file: ImageFile, sizes: list[tuple[int, int]]) -> Loaded:
    try:
        return load_resized(root / image_file.path, sizes)
    except Exception as err:  # Pillow raises UnidentifiedImageError, OSError, SyntaxError, ... for bad files
        return f"{type(err).__name__}: {err}"


def batches_loaded(items: Sequence[Any], load: Callable[[Any], Any], batch_size: int):
    """Yield (batch items, load(item) for each), loading the next batch in threads while the caller embeds this one."""
    chunks = [items[i:i + batch_size] for i in range(0, len(items), batch_size)]
    with ThreadPoolExecutor(DECODE_THREADS) as pool:
        submit = lambda chunk: [pool.submit(load, item) for item in chunk]  # noqa: E731
        pending = submit(chunks[0]) if chunks else []
        for index, chunk in enumerate(chunks):
            loaded = [future.result() for future in pending]
            pending = submit(chunks[index + 1]) if index + 1 < len(chunks) else []
            yield chunk, loaded


def compute(root: Path, todo: dict[str, list[ImageFile]], embedders: dict[str, OnnxEmbedder],
            caches: dict[str, EmbedderCache], batch_size: int, log: Log) -> tuple[dict[str, int], Unreadable]:
    """Embed the images each embedder lacks, in batches; every image is decoded once for all of them.
    Returns the images run per embedder and the unreadable files."""
    needed = sorted({f for files in todo.values() for f in files}, key=lambda f: f.path)
    wanted = {name: set(files) for name, files in todo.items()}
    computed, unreadable = dict.fromkeys(todo, 0), {}
    if not needed:
        return computed, unreadable
    log(f"embedding {len(needed)} images with {', '.join(embedders)} (batch {batch_size})")
    sizes = sorted({e.input_size for e in embedders.values()})
    progress, done = Progress(len(needed), log), 0
    for chunk, loaded in batches_loaded(needed, functools.partial(load_image, root, sizes=sizes), batch_size):
        unreadable.update((f, why) for f, why in zip(chunk, loaded) if isinstance(why, str))
        for name, embedder in embedders.items():
            picked = [(f, images) for f, images in zip(chunk, loaded) if not isinstance(images, str) and f in wanted[name]]
            if not picked:
                continue
            vectors = embedder(np.stack([images[embedder.input_size] for _, images in picked]))
            for (image_file, _), vector in zip(picked, vectors):
                caches[name].put(image_file, vector)
            computed[name] += len(picked)
        done += len(chunk)
        progress.update(done)
    return computed, unreadable


def embed_directory(data_dir: str | Path, specs: Sequence[EmbedderSpec], cache_dir: Optional[str] = None,
                    batch_size: int = 32, skip_corrupt: bool = False, log: Log = _print) -> DirectoryEmbeddings:
    """Embed every image of `data_dir/person_id/` with every embedder, through the cache. Bad input
    (images outside identity folders, one-image identities, unreadable images, missing or unsuitable
    models) is listed in one FaceauthError, or with skip_corrupt the images are left out and listed."""
    root = Path(data_dir)
    files, skipped = usable_layout(root, *scan_images(root), skip_corrupt)
    folder = cache_folder(root, cache_dir)
    caches = {s.name: EmbedderCache(folder, s, root) for s in specs if Path(s.path).is_file()}
    todo = {s.name: [f for f in files if s.name not in caches or caches[s.name].get(f) is None] for s in specs}
    embedders = open_embedders([s for s in specs if todo[s.name]])
    computed, unreadable = compute(root, todo, embedders, caches, batch_size, log)
    files = [f for f in files if f not in unreadable]
    for cache in caches.values():
        cache.save(files)  # before raising: the readable images' work is kept
    bad = [f"{f.path}: unreadable image ({reason})" for f, reason in sorted(unreadable.items(), key=lambda item: item[0].path)]
    if bad and not skip_corrupt:
        raise FaceauthError(f"{root}: " + listing("unreadable image", bad) + f"\nFix or remove them, or pass --skip-corrupt "
                            f"to leave them out (the other {len(files)} images are embedded and cached in {folder})")
    files, skipped = _drop_small_identities(files, skipped + bad)
    arrays = {s.name: np.stack([caches[s.name].get(f) for f in files]) for s in specs}
    result = DirectoryEmbeddings(root, folder, files, arrays, computed, skipped)
    log(summary(result))
    return result


def _drop_small_identities(files: list[ImageFile], skipped: list[str]) -> tuple[list[ImageFile], list[str]]:
    """After unreadable images are skipped, an identity may be left with one image: skip it too."""
    singles = set(small_identities(files)) if files else set()
    skipped = skipped + [f"{name}/: one readable image left; each identity needs two or more" for name in sorted(singles)]
    files = [f for f in files if f.identity not in singles]
    if not files:
        raise FaceauthError("no usable images left: " + listing("skipped item", skipped))
    return files, skipped


def summary(result: DirectoryEmbeddings) -> str:
    counts = ", ".join(f"{name} {result.arrays[name].shape[1]}-d ({result.computed[name]} computed)" for name in result.arrays)
    text = f"embeddings of {len(result.files)} images in {result.data_dir}: {counts}; cache {result.cache}"
    if result.skipped:
        text += "\n" + listing("skipped item", result.skipped)
    return text


def _model_stat(path: str) -> tuple[str, int, int]:
    try:
        stat = Path(path).stat()
        return (path, stat.st_size, stat.st_mtime_ns)
    except OSError:
        return (path, -1, -1)


def load_image_embeddings(config) -> EmbeddingSet:
    """The config's data_dir embedded by its embedders, remembered per process while neither the
    images nor the model files change: Tune trials that reuse an actor skip even the cache read."""
    specs = config.embedder_specs()
    files, problems = scan_images(config.data_dir)
    stamp = (tuple(files), tuple(problems), tuple(_model_stat(s.path) for s in specs))
    return _embedding_set(config.data_dir, specs, config.cache_dir, config.embed_batch_size, config.skip_corrupt, stamp)


@functools.lru_cache(maxsize=2)
def _embedding_set(data_dir: str, specs: tuple[EmbedderSpec, ...], cache_dir: Optional[str], batch_size: int,
                   skip_corrupt: bool, stamp: tuple) -> EmbeddingSet:
    return embed_directory(data_dir, specs, cache_dir, batch_size, skip_corrupt).embedding_set()
