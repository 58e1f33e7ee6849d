"""What the dataset readers return: each video or image with its labels, and the lists of a shipped
protocol's folds; with the checks and the validation rule they share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from faceauth.io.errors import FaceauthError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Media:
    """One video or image of a dataset, labelled as the dataset labels it."""

    path: Path  # absolute
    relpath: str  # relative to the dataset's root, "/" separators: what protocol lists name
    split: str  # train | val | test, as the dataset (or the documented rule for its validation side) assigns it
    attack_type: str  # '' for bona fide, else the dataset's own attack name (metric-key safe)
    subject: str  # the person filmed: no subject is on two sides of a split


@dataclass(frozen=True)
class FoldLists:
    """One fold of a shipped protocol: the relpaths of the media on each side."""

    name: str
    train: frozenset[str]
    val: frozenset[str]
    test: frozenset[str]


def check_media(media: list[Media], root: Path, name: str, expected: str) -> list[Media]:
    """A dataset read with nothing on one side is not the dataset: say what was found."""
    if not media:
        raise FaceauthError(f"{root}: no {name} videos or images found; expected {expected}")
    missing = [s for s in SPLITS if not any(m.split == s for m in media)]
    if missing:
        raise FaceauthError(f"{root} ({name}): nothing for the {', '.join(missing)} side; expected {expected}")
    return media


def held_out_subjects(subjects: list[str], fraction: float = 0.2) -> set[str]:
    """The validation side of a dataset that ships only train and test: the last `fraction` of its
    training subjects in their own order (numbers numerically), at least one. A rule, not a draw,
    so every run and every reader of these docs gets the same split."""
    ordered = sorted(set(subjects), key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))
    count = max(1, round(fraction * len(ordered)))
    return set(ordered[-count:]) if len(ordered) > 1 else set()


def relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()
