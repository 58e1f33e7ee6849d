"""Face-recognition embedders as ONNX files: which file, how its images are prepared, and a checked
onnxruntime session that turns a batch of images into embeddings.

The models' weights cannot be downloaded here and users already hold them as ONNX files, so an
embedder is any ONNX image model the user names. One is given as `NAME=MODEL.onnx` (a flag or a
config entry, optionally followed by `,key=value` settings) or as a mapping in the config file:

    embedders:
      - arcface=models/arcface.onnx            # preprocessing from the family of the same name
      - name: facenet
        path: models/facenet.onnx
        input_size: 160                        # or [height, width]; default: the model's own
        channel_order: rgb                     # rgb | bgr
        mean: 127.5                            # one value or three (in the model's channel order), 0..255 scale
        std: 128.0
      - {name: adaface, path: models/adaface.onnx, family: arcface}

Settings not given come from the embedder's `family` (by default its name). An embedder whose name
is no family needs `family`, or `channel_order`, `mean` and `std`.
"""

from __future__ import annotations

import re

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping, Optional, Sequence, Union

import numpy as np
import yaml

from faceauth.training.config import build_config, check
from faceauth.io.errors import FaceauthError
from faceauth.io.files import bounded_lines


@dataclass(frozen=True)
class Preprocessing:
    input_size: tuple[int, int]  # (height, width)
    channel_order: str
    mean: float
    std: float


# The published preprocessing of the three models the original pipeline fused; each is only a
# default, and a model whose ONNX input has a fixed size is fed that size whatever its family.
FAMILIES: dict[str, Preprocessing] = {
    # insightface ArcFace (e.g. w600k_r50.onnx): 112x112 RGB, (x - 127.5) / 127.5.
    "arcface": Preprocessing((112, 112), "rgb", 127.5, 127.5),
    # facenet-pytorch InceptionResnetV1: 160x160 RGB, fixed_image_standardization (x - 127.5) / 128.
    "facenet": Preprocessing((160, 160), "rgb", 127.5, 128.0),
    # MobileFaceNet as trained in insightface-style pipelines: 112x112 RGB, (x - 127.5) / 128.
    "mobilefacenet": Preprocessing((112, 112), "rgb", 127.5, 128.0),
}
# Part of every cache key: raise it when the image preparation below changes, so old caches are recomputed.
PREPARATION_VERSION = 1
# Columns of the embeddings table that an embedder's name must not take.
RESERVED_NAMES = ("identity", "path", "size", "mtime_ns")


@dataclass(frozen=True)
class EmbedderOptions:
    """The keys of one `embedders` entry as the user writes them; build_config checks the names and
    types (unknown keys are errors with a "did you mean")."""

    name: str = ""
    path: str = ""
    family: Optional[Literal["arcface", "facenet", "mobilefacenet"]] = None
    input_size: Optional[Union[int, tuple[int, ...]]] = None
    channel_order: Optional[Literal["rgb", "bgr"]] = None
    mean: Optional[Union[float, tuple[float, ...]]] = None
    std: Optional[Union[float, tuple[float, ...]]] = None

    def __post_init__(self) -> None:
        check(bool(self.name), "name", "is required (it names the embedding column)")
        check(bool(self.path), "path", "is required: the model's .onnx file")
        # The name becomes a cache file name and a column: letters, digits, _ . - only, so it cannot leave the cache folder.
        check(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", self.name) is not None and ".." not in self.name, "name",
              f"{self.name!r} may hold only letters, digits, '_', '.' and '-' (no path characters)")
        check(self.name not in RESERVED_NAMES, "name", f"must not be one of {', '.join(RESERVED_NAMES)} (table columns)")
        size = _pair(self.input_size)
        check(size is None or min(size) >= 8, "input_size", "must be one size >= 8 or [height, width]")
        for key in ("mean", "std"):
            values = getattr(self, key)
            check(values is None or len(_triple(values)) == 3, key, "must be one number or three (one per channel)")
        check(self.std is None or min(_triple(self.std)) > 0, "std", "must be positive")


@dataclass(frozen=True)
class EmbedderSpec:
    """One embedder, resolved: its preprocessing is complete except a size the model itself fixes."""

    name: str
    path: str
    input_size: Optional[tuple[int, int]]  # given by the user; None: the model's, else default_size
    default_size: Optional[tuple[int, int]]  # the family's
    channel_order: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def cache_key(self, model_sha256: str) -> str:
        """Same model bytes and same preprocessing give the same embeddings: the cache's key."""
        settings = {"version": PREPARATION_VERSION, "model_sha256": model_sha256, "input_size": self.input_size,
                    "default_size": self.default_size, "channel_order": self.channel_order, "mean": self.mean, "std": self.std}
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _pair(size: Union[int, tuple[int, ...], None]) -> Optional[tuple[int, int]]:
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    return (size[0], size[1]) if len(size) == 2 else (0, 0)


def _triple(value: Union[float, tuple[float, ...]]) -> tuple[float, ...]:
    return (float(value),) * 3 if isinstance(value, (int, float)) else tuple(float(v) for v in value)


def parse_embedder_text(text: str, where: str) -> dict[str, Any]:
    """`NAME=MODEL.onnx[,key=value...]` (the flag form) as a mapping; values are YAML scalars."""
    name, sep, rest = text.partition("=")
    path, *settings = rest.split(",")
    if not sep or not name.strip() or not path.strip():
        raise FaceauthError(f"{where}: '{text}' must be NAME=MODEL.onnx, e.g. arcface=models/arcface.onnx "
                            f"(optionally followed by ,key=value settings such as ,channel_order=bgr)")
    values: dict[str, Any] = {"name": name.strip(), "path": path.strip()}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep:
            raise FaceauthError(f"{where}: '{setting}' in '{text}' must be key=value, e.g. input_size=112")
        values[key.strip()] = yaml.safe_load(value.strip())
    return values


def resolve_embedder(options: EmbedderOptions, where: str) -> EmbedderSpec:
    """Fill what the user left out from the embedder's family."""
    family = FAMILIES.get(options.family or options.name)
    missing = [k for k in ("channel_order", "mean", "std") if getattr(options, k) is None]
    if family is None and missing:
        raise FaceauthError(
            f"{where}: '{options.name}' is not a known family ({', '.join(FAMILIES)}), so its preprocessing must be "
            f"given: set family to the closest one, or set {', '.join(missing)}"
        )
    return EmbedderSpec(
        name=options.name,
        path=options.path,
        input_size=_pair(options.input_size),
        default_size=family.input_size if family else None,
        channel_order=options.channel_order or family.channel_order,
        mean=_triple(options.mean if options.mean is not None else family.mean),
        std=_triple(options.std if options.std is not None else family.std),
    )


def parse_embedders(entries: Sequence[Union[str, Mapping[str, Any]]]) -> tuple[EmbedderSpec, ...]:
    """The `embedders` config key, checked: every problem names the entry and the key."""
    specs = []
    for index, entry in enumerate(entries):
        where = f"embedders[{index}]"
        values = parse_embedder_text(entry, where) if isinstance(entry, str) else dict(entry)
        if values.get("name"):
            where += f" ({values['name']})"
        specs.append(resolve_embedder(build_config(EmbedderOptions, values, where), where))
    names = [spec.name for spec in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FaceauthError(f"config key 'embedders' names {', '.join(duplicates)} twice; each embedder needs its own name (its column)")
    return tuple(specs)


@dataclass
class OnnxEmbedder:
    """A checked onnxruntime session of one embedder and what it expects."""

    spec: EmbedderSpec
    session: Any  # onnxruntime.InferenceSession
    input_name: str
    channels_last: bool
    input_size: tuple[int, int]
    fixed_batch: Optional[int]  # the model's batch dimension when it is not dynamic
    output_name: str  # the first output: the embedding (further outputs, e.g. norms, are not computed)
    input_dtype: type = np.float32

    def prepare(self, images: np.ndarray) -> np.ndarray:
        """(B, H, W, 3) uint8 RGB at input_size -> the model's float input. The channel flip and the
        layout change happen on the uint8 view, so only one float copy is made."""
        x = images[..., ::-1] if self.spec.channel_order == "bgr" else images
        x = np.ascontiguousarray(x if self.channels_last else x.transpose(0, 3, 1, 2), dtype=np.float32)
        mean, std = self.spec.mean, self.spec.std
        if len(set(mean)) == 1 and len(set(std)) == 1:  # the usual case; channels-last broadcasting is slow
            x -= np.float32(mean[0])
            x /= np.float32(std[0])
        else:
            shape = (1, 1, 1, 3) if self.channels_last else (1, 3, 1, 1)
            x -= np.asarray(mean, np.float32).reshape(shape)
            x /= np.asarray(std, np.float32).reshape(shape)
        return x if self.input_dtype is np.float32 else x.astype(self.input_dtype)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Embeddings (B, D) float32 of (B, H, W, 3) uint8 RGB images at input_size."""
        x = self.prepare(images)
        step = self.fixed_batch or len(x)
        outputs = [self._run(x[i:i + step]) for i in range(0, len(x), step)]
        return np.concatenate(outputs).astype(np.float32, copy=False)

    def _run(self, x: np.ndarray) -> np.ndarray:
        count = len(x)
        if self.fixed_batch and count < self.fixed_batch:  # a model exported with a fixed batch: pad
            x = np.concatenate([x, np.zeros((self.fixed_batch - count, *x.shape[1:]), x.dtype)])
        out = self.session.run([self.output_name], {self.input_name: x})[0]
        return np.asarray(out).reshape(len(x), -1)[:count]


def _providers() -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


def open_embedder(spec: EmbedderSpec) -> OnnxEmbedder:
    """Load and check the ONNX file: one float image input of rank 4 with 3 channels, an output of
    (batch, D). Raises FaceauthError naming the embedder, the file and what is wrong."""
    import onnxruntime as ort

    where = f"embedder '{spec.name}' ({spec.path})"
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: the user's terminal is for progress
    try:
        session = ort.InferenceSession(spec.path, options, providers=_providers())
    except Exception as err:  # onnxruntime raises its own Fail/InvalidProtobuf/... types
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FaceauthError(f"{where}: not a loadable ONNX model ({first_line}); pass the model's .onnx file") from None
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise FaceauthError(f"{where}: the model takes {len(inputs)} inputs ({', '.join(i.name for i in inputs)}); "
                            f"an image embedder takes one image batch")
    shape, kind = list(inputs[0].shape), inputs[0].type
    if len(shape) != 4:
        raise FaceauthError(f"{where}: input '{inputs[0].name}' has rank {len(shape)} (shape {shape}); an image "
                            f"embedder takes a rank-4 batch (batch, 3, height, width) or (batch, height, width, 3)")
    if kind not in ("tensor(float)", "tensor(float16)"):
        raise FaceauthError(f"{where}: input '{inputs[0].name}' is {kind}; faceauth feeds normalised float images")
    channels_last = shape[3] == 3 and shape[1] != 3
    if not channels_last and isinstance(shape[1], int) and shape[1] != 3:
        raise FaceauthError(f"{where}: input shape {shape} has no 3-channel axis (axis 1 or 3); is it an RGB image model?")
    size = _input_size(spec, shape[1:3] if channels_last else shape[2:4], where)
    output_name = _check_output(session, where)
    fixed_batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
    dtype = np.float16 if kind == "tensor(float16)" else np.float32
    return OnnxEmbedder(spec, session, inputs[0].name, channels_last, size, fixed_batch, output_name, dtype)


def _input_size(spec: EmbedderSpec, spatial: list[Any], where: str) -> tuple[int, int]:
    """The user's size, else the model's fixed one, else the family's; a mismatch is an error."""
    fixed = tuple(spatial) if all(isinstance(d, int) and d > 0 for d in spatial) else None
    if spec.input_size and fixed and spec.input_size != fixed:
        raise FaceauthError(f"{where}: input_size {list(spec.input_size)} does not match the model's fixed input "
                            f"{list(fixed)}; leave input_size out or give {list(fixed)}")
    size = spec.input_size or fixed or spec.default_size
    if size is None:
        raise FaceauthError(f"{where}: the model's input size is dynamic and '{spec.name}' is no known family; set input_size")
    return size  # type: ignore[return-value]


def _check_output(session: Any, where: str) -> str:
    output = session.get_outputs()[0]
    shape = list(output.shape)
    extra = [d for d in shape[2:] if d != 1]
    if len(shape) < 2 or extra:
        raise FaceauthError(f"{where}: output '{output.name}' has shape {shape}; an embedder outputs (batch, D) embeddings")
    return output.name


def open_embedders(specs: Sequence[EmbedderSpec]) -> dict[str, OnnxEmbedder]:
    """Open every embedder; report every bad one in one error, not just the first."""
    opened, problems = {}, []
    for spec in specs:
        if not Path(spec.path).is_file():
            problems.append(f"embedder '{spec.name}': model file {spec.path} does not exist; give the path of its .onnx file")
            continue
        try:
            opened[spec.name] = open_embedder(spec)
        except FaceauthError as err:
            problems.append(str(err))
    if problems:
        raise FaceauthError(listing("embedder problem", problems))
    return opened


def listing(noun: str, items: Sequence[str], limit: int = 50) -> str:
    """One message for many bad files: a count, then one line each (the first `limit`)."""
    lines = bounded_lines([f"  - {item}" for item in items], limit)
    return f"{len(items)} {noun}{'s' if len(items) != 1 else ''}:\n" + "\n".join(lines)
