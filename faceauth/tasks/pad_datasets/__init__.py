"""Public anti-spoofing datasets read where they lie, in the layouts they ship in: OULU-NPU, CASIA-FASD,
Idiap Replay-Attack and CelebA-Spoof. Readers of paths, labels and protocol lists only (no decoding);
they import nothing of faceauth but its errors, and faceauth.tasks.protocols turns what they return into
folds (media.py: what they return).

Each reader module has `NAME`, `detect(root)`, `read(root) -> list[Media]` and, where the dataset ships
protocols, `PROTOCOLS` (the names `--protocol` takes) and `protocol(root, name, present_relpaths) -> list[FoldLists]`.
docs/pad-datasets.md describes every layout, what is read and what is reported.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from faceauth.io.errors import FaceauthError
from faceauth.tasks.pad_datasets.media import FoldLists, Media

__all__ = ["FoldLists", "Media", "LAYOUTS", "reader", "reader_of", "protocol_names"]


def _readers() -> dict[str, ModuleType]:
    from faceauth.tasks.pad_datasets import casia_fasd, celeba_spoof, oulu_npu, replay_attack

    return {m.NAME: m for m in (oulu_npu, casia_fasd, replay_attack, celeba_spoof)}


FORMATS = ("oulu-npu", "casia-fasd", "replay-attack", "celeba-spoof")
LAYOUTS = ("auto", "faceauth", *FORMATS)  # what --dataset accepts


def reader(root: str | Path, dataset: str = "auto") -> ModuleType | None:
    """The reader of the dataset at `root`: the one named, or the one whose shipped layout it has
    (None: faceauth's own layout). A named dataset whose layout is not there is an error saying what
    is missing."""
    root = Path(root).expanduser()
    if dataset == "faceauth":
        return None
    readers = _readers()
    if dataset != "auto":
        if dataset not in readers:
            raise FaceauthError(f"unknown dataset '{dataset}'; use one of {', '.join(LAYOUTS)}")
        module = readers[dataset]
        if not module.detect(root):
            raise FaceauthError(f"{root} does not look like {dataset} as it ships: {module.EXPECTED}. Point --data-root at "
                                "the dataset's top folder, or drop --dataset to let faceauth detect the layout")
        return module
    found = [m for m in readers.values() if root.is_dir() and m.detect(root)]
    if len(found) > 1:
        raise FaceauthError(f"{root} matches the layouts of {', '.join(m.NAME for m in found)}; name one with --dataset")
    return found[0] if found else None


def reader_of(name: str) -> ModuleType:
    return _readers()[name]


def protocol_names() -> dict[str, str]:
    """Every shipped protocol name -> the dataset it belongs to."""
    return {name: module.NAME for module in _readers().values() for name in getattr(module, "PROTOCOLS", ())}
