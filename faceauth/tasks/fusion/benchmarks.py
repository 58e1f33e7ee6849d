"""Face-verification benchmarks as the field ships them, read and checked: insightface's `.bin` files
(lfw.bin, cfp_fp.bin, agedb_30.bin, ...) and LFW's own `pairs.txt` beside its image folder.

    faceauth evaluate --model-path fusion.pth --benchmark lfw.bin --embedder arcface=arcface.onnx ...

A `.bin` is a pickle of `(bins, issame_list)`: 2N encoded images and N booleans, pair i being images
2i and 2i+1 (insightface recognition/arcface_torch/eval/verification.py, `load_bin`). Its folds are
10 contiguous blocks of pairs (sklearn KFold without shuffling, sizes as np.array_split); lfw.bin was
written in pairs.txt order, so they are LFW's own folds. Pickles can run code, so it is read with an
unpickler that admits no global at all but numpy's array reconstruction (the ndarray variant written
by insightface's cfp2pack.py / agedb2pack2.py): tuples, lists, bytes and booleans need none.

`pairs.txt` (LFW View 2): a header `10 300` (sets, matched pairs per set), then per set 300 lines
`name n1 n2` (same person) and 300 lines `name1 n1 name2 n2` (different people); each set is a fold.
View 1 files (pairsDevTrain.txt, pairsDevTest.txt) have a one-number header and one set; their pairs
are dealt into 10 folds, each with a tenth of the matched and a tenth of the mismatched pairs.
Images are `<Name>/<Name>_<NNNN>.jpg` beside pairs.txt or in one subfolder lfw/, lfw-funneled/ or
lfw-deepfunneled/ (torchvision's names; the first that holds the images is used, in that order).
"""

from __future__ import annotations

import functools
import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

from faceauth.io.errors import FaceauthError
from faceauth.io.files import file_sha256

FOLDS = 10
PAIRS_FILE = "pairs.txt"
LFW_IMAGE_FOLDERS = ("", "lfw", "lfw-funneled", "lfw-deepfunneled")
WHAT = "a .bin file (e.g. lfw.bin), an LFW folder holding pairs.txt, or a pairs.txt file"
ImageSource = Union[bytes, Path]  # an encoded image (.bin) or an image file (LFW)


@dataclass(frozen=True)
class Benchmark:
    """N pairs of images, their labels, folds and bootstrap units."""

    name: str  # as the user knows it: lfw.bin, or the LFW folder's name
    path: Path
    images: list[ImageSource]  # each distinct image once
    first: np.ndarray  # (N,) index into images of each pair's first image
    second: np.ndarray
    same: np.ndarray  # (N,) bool: the pair shows one person
    folds: np.ndarray  # (N,) fold of each pair, 0..9
    fold_source: str
    groups: np.ndarray  # bootstrap units: (N,) the pair itself (.bin), or (N, 2) its two identities (LFW)
    unit: str  # "pairs" or "identities"
    content_hash: str  # part of the embedding cache's key
    home: Path  # the folder the default cache goes in
    image_origin: list[str]  # each image in errors after "<path>: ": "image 7 (pair 3)", "line 12 (A/A_0001.jpg)"

    def __len__(self) -> int:
        return int(self.same.size)


def open_benchmark(path: str | Path) -> Benchmark:
    """Read and check a benchmark; every problem is one FaceauthError naming the file and the fix."""
    path = Path(path)
    if path.is_dir():
        return read_lfw(path / PAIRS_FILE)
    if not path.is_file():
        raise FaceauthError(f"benchmark {path} does not exist; pass {WHAT}")
    if path.suffix.lower() == ".txt":
        return read_lfw(path)
    return read_bin(path)


def check_benchmarks(paths: tuple[str, ...]) -> None:
    """Read and check each benchmark (remembered per process while the file is unchanged: a search's
    trials sharing a worker read it once), so that a bad one is named before training."""
    for path in paths:
        stat = Path(path).stat() if Path(path).exists() else None
        _checked(str(path), (stat.st_size, stat.st_mtime_ns) if stat else None)


@functools.lru_cache(maxsize=16)
def _checked(path: str, stamp: tuple[int, int] | None) -> None:
    open_benchmark(path)


# ---- insightface .bin -------------------------------------------------------------------------------------------
class RefusedGlobal(pickle.UnpicklingError):
    pass


class BinUnpickler(pickle.Unpickler):
    """Refuses every global but numpy's array reconstruction, so loading cannot call anything else."""

    NUMPY = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
             ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str):
        if (module, name) in self.NUMPY:
            return super().find_class(module, name)
        raise RefusedGlobal(f"{module}.{name}")


def load_bin_pickle(path: Path) -> object:
    """The unpickled object; a refused global or a damaged file is a FaceauthError naming the file."""
    try:
        with path.open("rb") as handle:
            # Python 2 wrote these files: its str comes back as bytes with encoding="bytes".
            return BinUnpickler(handle, encoding="bytes").load()
    except RefusedGlobal as err:
        raise FaceauthError(f"{path}: refused: the pickle asks for {err}, which an insightface .bin never holds (it "
                            f"could run code); use the .bin files as insightface ships them") from None
    except OSError as err:
        raise FaceauthError(f"cannot read the benchmark {path} ({err.strerror}); check the path and its permissions") from None
    except Exception as err:  # a damaged pickle raises EOFError, UnpicklingError, ValueError, ...
        reason = " ".join(str(err).split())[:120] or type(err).__name__
        raise FaceauthError(f"{path}: not a readable .bin pickle ({type(err).__name__}: {reason}); the file is damaged or "
                            f"cut short: download it again") from None


def bin_contents(path: Path, loaded: object) -> tuple[list[bytes], list[bool]]:
    """(2N encoded images, N labels) from an unpickled .bin, every shape problem named."""
    fix = "it should hold (images, issame_list) as insightface writes them; download the file again"
    if not isinstance(loaded, tuple) or len(loaded) != 2:
        size = f" of {len(loaded)}" if isinstance(loaded, (tuple, list)) else ""
        raise FaceauthError(f"{path}: holds a {type(loaded).__name__}{size}, not a 2-tuple; {fix}")
    bins, same = loaded
    if not isinstance(bins, (list, tuple)) or not isinstance(same, (list, tuple)):
        raise FaceauthError(f"{path}: holds a {type(bins).__name__} and a {type(same).__name__}, not two lists; {fix}")
    if len(bins) != 2 * len(same):
        raise FaceauthError(f"{path}: holds {len(bins)} images for {len(same)} labels; a .bin holds 2 images per label "
                            f"(pair i = images 2i, 2i+1); {fix}")
    for index, label in enumerate(same):
        if not isinstance(label, bool):
            raise FaceauthError(f"{path}: label {index} is {label!r} ({type(label).__name__}), not True/False; {fix}")
    return [_image_bytes(path, index, item) for index, item in enumerate(bins)], list(same)


def _image_bytes(path: Path, index: int, item: object) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, np.ndarray) and item.dtype == np.uint8 and item.ndim == 1:
        return item.tobytes()  # cv2.imencode's result, as insightface's cfp2pack.py stored it
    raise FaceauthError(f"{path}: image {index} (pair {index // 2}) is a {type(item).__name__}, not encoded image bytes; "
                        "download the file again")


def read_bin(path: Path) -> Benchmark:
    bins, same = bin_contents(path, load_bin_pickle(path))
    labels = _checked_labels(path, np.asarray(same, bool))
    count = labels.size
    folds = np.concatenate([np.full(len(part), k) for k, part in enumerate(np.array_split(np.arange(count), FOLDS))])
    origin = [f"image {i} (pair {i // 2})" for i in range(len(bins))]
    return Benchmark(path.name, path, bins, np.arange(0, 2 * count, 2), np.arange(1, 2 * count, 2), labels, folds,
                     f"{FOLDS} contiguous folds of pairs (np.array_split)", np.arange(count), "pairs",
                     file_sha256(path, "benchmark"), path.parent, origin)


def _checked_labels(path: Path, same: np.ndarray) -> np.ndarray:
    if same.size < FOLDS:
        raise FaceauthError(f"{path}: {same.size} pairs; the {FOLDS}-fold protocol needs at least {FOLDS}")
    if same.all() or not same.any():
        raise FaceauthError(f"{path}: every pair is {'genuine' if same.all() else 'impostor'}; a benchmark needs both kinds")
    return same


# ---- LFW pairs.txt ----------------------------------------------------------------------------------------------
def _header(pairs: Path, lines: list[str]) -> tuple[int, int]:
    """(sets, matched pairs per set): `10 300` (View 2) or `1100` (View 1, one set)."""
    first = lines[0] if lines else ""
    fields = first.split()
    if len(fields) not in (1, 2) or not all(f.isdigit() and int(f) > 0 for f in fields):
        raise FaceauthError(f"{pairs}, line 1: {first.strip()[:60]!r} is not a pairs.txt header (`10 300`: sets "
                            f"and matched pairs per set, or one count for View 1); use the pairs.txt LFW ships")
    return (int(fields[0]), int(fields[1])) if len(fields) == 2 else (1, int(fields[0]))


def _pair_line(pairs: Path, number: int, line: str) -> tuple[str, int, str, int]:
    """(name1, n1, name2, n2) of one pair line (3 fields: one person; 4: two)."""
    fields = line.split()
    names = (fields[0], fields[1], fields[0], fields[2]) if len(fields) == 3 else tuple(fields)
    # A name is one folder of the image tree: no separator or "..", so no line reads outside it.
    if len(names) != 4 or not (names[1].isdigit() and names[3].isdigit()) or any(
            "/" in n or "\\" in n or n in (".", "..") for n in (names[0], names[2])):
        raise FaceauthError(f"{pairs}, line {number}: {line.strip()[:80]!r} is not a pair (`name n1 n2` or `name1 n1 name2 n2`, "
                            f"numbers 1-based, names without path characters); fix the line or use the pairs.txt LFW ships")
    return names[0], int(names[1]), names[2], int(names[3])


def _view1_folds(matched: int, sets: int) -> np.ndarray:
    """One set (View 1): its matched and its mismatched pairs each dealt into 10 contiguous parts,
    fold k = part k of both, so that every fold holds both kinds as View 2's sets do."""
    if sets > 1:
        return np.repeat(np.arange(sets), 2 * matched)
    part = np.concatenate([np.full(len(p), k) for k, p in enumerate(np.array_split(np.arange(matched), FOLDS))])
    return np.concatenate([part, part])


def _image_folder(pairs: Path, line: int, first_image: str) -> Path:
    for sub in LFW_IMAGE_FOLDERS:
        if (pairs.parent / sub / first_image).is_file():
            return pairs.parent / sub
    raise FaceauthError(f"{pairs}, line {line}: image {first_image} is in none of {pairs.parent}/, " + ", ".join(
        f"{pairs.parent / s}/" for s in LFW_IMAGE_FOLDERS[1:]) + "; put the LFW images (<Name>/<Name>_<NNNN>.jpg) there")


def read_lfw(pairs: Path) -> Benchmark:
    if not pairs.is_file():
        raise FaceauthError(f"benchmark {pairs.parent} holds no {pairs.name}; pass {WHAT}")
    try:
        lines = [(n, line) for n, line in enumerate(pairs.read_text(errors="replace").splitlines(), 1) if line.strip()]
    except OSError as err:
        raise FaceauthError(f"cannot read {pairs} ({err.strerror}); check the path and its permissions") from None
    sets, matched = _header(pairs, [line for _, line in lines])
    body = lines[1:]
    if len(body) != 2 * sets * matched:
        raise FaceauthError(f"{pairs}: {len(body)} pair lines, but its header ({' '.join(lines[0][1].split())}) says "
                            f"{2 * sets * matched}; the file is cut short or edited: use the pairs.txt LFW ships")
    parsed = [(number, _pair_line(pairs, number, line)) for number, line in body]
    name = lambda person, n: f"{person}/{person}_{n:04d}.jpg"  # noqa: E731
    root = _image_folder(pairs, parsed[0][0], name(*parsed[0][1][:2]))
    index: dict[str, int] = {}
    origin: list[str] = []
    pair_images, people = [], []
    for number, (person1, n1, person2, n2) in parsed:
        for image in (name(person1, n1), name(person2, n2)):
            if image not in index:
                index[image] = len(index)
                origin.append(f"line {number} ({image})")
        pair_images.append((index[name(person1, n1)], index[name(person2, n2)]))
        people.append((person1, person2))
    files = [root / image for image in index]
    stamp = _lfw_stamp(pairs, files, origin)
    _, identities = np.unique(np.asarray(people), return_inverse=True)
    same = _checked_labels(pairs, np.asarray([a == b for a, b in people]))
    first, second = np.asarray(pair_images).T
    folder = pairs.parent
    source = f"the {sets} sets of {pairs.name}" if sets > 1 else f"{FOLDS} folds dealt from the one set of {pairs.name}"
    return Benchmark(folder.name if pairs.name == PAIRS_FILE else pairs.name, pairs, files, first, second, same,
                     _view1_folds(matched, sets), source, identities.reshape(-1, 2), "identities", stamp, folder, origin)


def _lfw_stamp(pairs: Path, files: list[Path], origin: list[str]) -> str:
    """pairs.txt's bytes and every image's path, size and modification time: a changed image or list
    makes a new cache key without reading thousands of images on every run."""
    digest = hashlib.sha256(pairs.read_bytes())
    for path, where in zip(files, origin):
        try:
            stat = path.stat()
        except OSError:
            raise FaceauthError(f"{pairs}, {where}: the image {path} does not exist; put it there or use the "
                                f"pairs.txt that came with these images") from None
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()
