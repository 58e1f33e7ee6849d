"""CelebA-Spoof as it ships (Zhang et al., ECCV 2020):

    CelebA_Spoof/Data/{train,test}/<subject>/{live,spoof}/<image>.jpg   (+ <image>_BB.txt, a face box)
    CelebA_Spoof/metas/intra_test/train_label.json, test_label.json

The label files decide which images are read and how: each maps an image's path (from `Data/`) to 44
integers, of which [40] is the spoof type (0 live, 1 photo, 2 poster, 3 A4, 4 face mask, 5 upper-body
mask, 6 region mask, 7 PC, 8 pad, 9 phone, 10 3D mask) and [43] live (0) or spoof (1); the two and the
image's live/ or spoof/ folder must agree. The dataset ships no validation side: the last fifth of the
training subjects validate (faceauth.tasks.pad_datasets.held_out_subjects). The `_BB.txt` boxes crop each image
(faceauth.tasks.face_boxes).
"""

from __future__ import annotations

import json
from pathlib import Path

from faceauth.io.errors import FaceauthError
from faceauth.tasks.pad_datasets.media import Media, check_media, held_out_subjects

NAME = "celeba-spoof"
EXPECTED = "Data/{train,test}/<subject>/{live,spoof}/ images and metas/intra_test/{train,test}_label.json"
SPOOF_TYPES = ("", "photo", "poster", "a4", "face_mask", "upper_body_mask", "region_mask", "pc", "pad", "phone", "3d_mask")
LABELS = 44


def top(root: Path) -> Path:
    """The folder holding Data/ and metas/: root itself or its CelebA_Spoof/."""
    return root / "CelebA_Spoof" if (root / "CelebA_Spoof" / "metas").is_dir() else root


def detect(root: Path) -> bool:
    base = top(root)
    return (base / "metas" / "intra_test").is_dir() and (base / "Data").is_dir()


def _label_file(base: Path, split: str) -> dict:
    path = base / "metas" / "intra_test" / f"{split}_label.json"
    if not path.is_file():
        raise FaceauthError(f"{path} is missing: CelebA-Spoof's label files decide its splits (metas/intra_test/"
                            "train_label.json and test_label.json as the release ships them)")
    try:
        labels = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise FaceauthError(f"{path} is not readable JSON ({err}); restore it from the release") from None
    if not isinstance(labels, dict):
        raise FaceauthError(f"{path}: expected one object mapping image paths to their 44 labels")
    return labels


def _entry(path: Path, key: str, value, base: Path) -> tuple[Path, str, str]:
    """(image path, attack type, subject) of one label entry, checked."""
    where = f"{path}, entry {key!r}"
    if not isinstance(value, list) or len(value) != LABELS or not all(isinstance(v, int) for v in value):
        raise FaceauthError(f"{where}: expected a list of {LABELS} integers")
    parts = key.split("/")
    if len(parts) != 5 or parts[0] != "Data" or parts[3] not in ("live", "spoof"):
        raise FaceauthError(f"{where}: expected Data/<split>/<subject>/<live|spoof>/<image>")
    spoof, kind = value[43], value[40]
    if spoof not in (0, 1) or not 0 <= kind < len(SPOOF_TYPES):
        raise FaceauthError(f"{where}: unknown label (live/spoof [43] = {spoof}, spoof type [40] = {kind}); [43] is 0 or 1, "
                            f"[40] is 0..{len(SPOOF_TYPES) - 1}")
    if (spoof == 1) != (parts[3] == "spoof") or (spoof == 1) != (kind != 0):
        raise FaceauthError(f"{where}: the labels (live/spoof {spoof}, spoof type {kind}) disagree with the folder {parts[3]}/")
    image = base / key
    if not image.is_file():
        raise FaceauthError(f"{where}: {image} does not exist; restore it or remove the entry")
    return image, SPOOF_TYPES[kind], parts[2]


def read(root: Path) -> list[Media]:
    base = top(root)
    media = []
    for split in ("train", "test"):
        path = base / "metas" / "intra_test" / f"{split}_label.json"
        entries = [(key, *_entry(path, key, value, base)) for key, value in sorted(_label_file(base, split).items())]
        held = held_out_subjects([subject for *_, subject in entries]) if split == "train" else set()
        for key, image, kind, subject in entries:
            side = "test" if split == "test" else "val" if subject in held else "train"
            media.append(Media(image.resolve(), key, side, kind, subject))
    return check_media(media, base, NAME, EXPECTED)
