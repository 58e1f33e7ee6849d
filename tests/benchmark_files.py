"""Small verification benchmarks written as the field ships them (the layouts of insightface's .bin
files and of LFW's pairs.txt with its image tree), for tests: JPEG faces drawn per identity, real files."""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image


def face_jpeg(identity: int, seed: int, size: int = 112) -> bytes:
    """A JPEG whose colour belongs to its identity, with noise of its own."""
    base = np.random.default_rng(1000 + identity).integers(0, 256, 3)
    pixels = np.clip(base + np.random.default_rng(seed).normal(0, 40, (size, size, 3)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


def bin_pairs(count: int = 40, seed: int = 0) -> tuple[list[bytes], list[bool]]:
    """2 * count JPEGs and count labels, genuine and impostor pairs interleaved (every fold has both)."""
    rng = np.random.default_rng(seed)
    images, same = [], []
    for i in range(count):
        genuine = i % 2 == 0
        first = int(rng.integers(0, 30))
        second = first if genuine else (first + 1 + int(rng.integers(0, 29))) % 30
        images += [face_jpeg(first, seed * 100_000 + 2 * i), face_jpeg(second, seed * 100_000 + 2 * i + 1)]
        same.append(genuine)
    return images, same


def py2_pickle(images: list[bytes], same: list[bool]) -> bytes:
    """The opcodes a Python 2 pickle.dump(..., protocol=2) of (bins, issame_list) holds: short strings
    (`U`, < 256 bytes) and long ones (`T`, 4-byte little-endian length), True/False, a 2-tuple."""
    def string(data: bytes) -> bytes:
        return b"U" + bytes([len(data)]) + data if len(data) < 256 else b"T" + struct.pack("<I", len(data)) + data

    return (b"\x80\x02](" + b"".join(string(j) for j in images) + b"e](" + b"".join(b"\x88" if s else b"\x89" for s in same)
            + b"e\x86.")


def write_bin(path: Path, images: list[bytes], same: list[bool], style: str = "protocol3") -> Path:
    """`protocol3`: as a Python 3 writer pickles it; `py2`: the original files' opcodes; `ndarray`:
    each image a uint8 array, as insightface's cfp2pack.py stored cv2.imencode's result."""
    if style == "py2":
        data = py2_pickle(images, same)
    elif style == "ndarray":
        data = pickle.dumps(([np.frombuffer(j, np.uint8).copy() for j in images], same), protocol=4)
    else:
        data = pickle.dumps((images, same), protocol=3)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_lfw(root: Path, sets: int = 10, matched: int = 2, people: int = 12, per_person: int = 3,
              images: str = "lfw", seed: int = 0) -> Path:
    """An LFW folder: pairs.txt (a `sets matched` header, then per set `matched` lines `name n1 n2` and as
    many `name1 n1 name2 n2`) and the images as <images>/<Name>/<Name>_<NNNN>.jpg."""
    rng = np.random.default_rng(seed)
    names = [f"Person_{chr(65 + i)}" for i in range(people)]
    for i, name in enumerate(names):
        folder = root / images / name
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(1, per_person + 1):
            (folder / f"{name}_{n:04d}.jpg").write_bytes(face_jpeg(i, seed * 10_000 + i * 100 + n))
    lines = [f"{sets}\t{matched}"] if sets > 1 else [str(matched)]
    for _ in range(sets):
        for _ in range(matched):
            person = names[int(rng.integers(0, people))]
            n1, n2 = rng.choice(np.arange(1, per_person + 1), 2, replace=False)
            lines.append(f"{person}\t{n1}\t{n2}")
        for _ in range(matched):
            a, b = rng.choice(people, 2, replace=False)
            lines.append(f"{names[a]}\t{int(rng.integers(1, per_person + 1))}\t{names[b]}\t{int(rng.integers(1, per_person + 1))}")
    (root / "pairs.txt").write_text("\n".join(lines) + "\n")
    return root
