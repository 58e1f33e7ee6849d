"""A folder of face images, `data_dir/person_id/image.jpg`: finding the images and decoding them.

Images are face crops of any size (JPEG or PNG, any mode: grey, RGBA and CMYK become RGB); each is
turned upright by its EXIF orientation and resized, without cropping, to each embedder's input.
Files deeper inside a person's folder (person_id/session/image.jpg) belong to that person; hidden
files and folders (such as the cache, .faceauth-cache/) and other file types are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from faceauth.io.errors import FaceauthError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class ImageFile:
    """One image and the stat fields the embedding cache is keyed by."""

    identity: str
    path: str  # relative to data_dir, with forward slashes
    size: int
    mtime_ns: int


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _visible(path: Path, root: Path) -> bool:
    return not any(part.startswith(".") for part in path.relative_to(root).parts)


def scan_images(data_dir: str | Path) -> tuple[list[ImageFile], list[str]]:
    """Every image under data_dir's identity folders, sorted by path, and the problems of the layout
    (images outside any identity folder). Raises when there is nothing to embed."""
    root = Path(data_dir)
    if not root.is_dir():
        raise FaceauthError(f"data_dir {root} is not a folder; pass a folder of face images laid out as DIR/person_id/image.jpg")
    files, problems = [], []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and _is_image(entry):
            problems.append(f"{entry.name}: not inside an identity folder; move it to {root}/<person_id>/")
        elif entry.is_dir():
            files.extend(_identity_images(root, entry))
    if not files:
        raise FaceauthError(f"data_dir {root} holds no JPEG or PNG images in identity folders; lay it out as DIR/person_id/image.jpg")
    return sorted(files, key=lambda f: f.path), problems


def _identity_images(root: Path, folder: Path) -> Iterable[ImageFile]:
    for path in folder.rglob("*"):
        if _is_image(path) and _visible(path, root) and path.is_file():
            stat = path.stat()
            yield ImageFile(folder.name, path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns)


def small_identities(files: list[ImageFile]) -> list[str]:
    """Identities with fewer than two images: they give no genuine pair to learn or test with."""
    names, counts = np.unique([f.identity for f in files], return_counts=True)
    return [str(n) for n in names[counts < 2]]


def read_image(path: Path, largest_side: int):
    """Decode to an upright RGB PIL image. JPEGs are decoded at a reduced scale when much larger than
    the largest input (Pillow's draft mode: DCT scaling), which is most of the decoding time of
    camera-size photos. Raises whatever Pillow raises for a file it cannot read."""
    from faceauth.io.imaging import open_rgb

    return open_rgb(path, largest_side)


def load_resized(path: Path, sizes: Iterable[tuple[int, int]]) -> dict[tuple[int, int], np.ndarray]:
    """The image at each (height, width): (height, width, 3) uint8 RGB, bilinear with antialiasing
    when shrinking. Decoded once for all sizes."""
    from PIL import Image

    sizes = list(sizes)
    image = read_image(path, max(max(size) for size in sizes))
    return {(h, w): np.asarray(image.resize((w, h), Image.Resampling.BILINEAR)) for h, w in sizes}
