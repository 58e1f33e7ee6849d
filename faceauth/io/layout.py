"""Names of the data layout every task shares: the three splits and, for presentation-attack data, the
two classes and the attack type of spoof samples that sit directly in spoof/."""

from pathlib import Path

SPLITS = ("train", "val", "test")
CLASSES = ("live", "spoof")
UNTYPED_ATTACK = "unlabelled"  # attacks directly in spoof/ when others sit in per-type subfolders


def not_a_folder(path: Path) -> str:
    """Why a folder the layout needs cannot be used: it is missing, or something else stands there."""
    return f"{path} is a file, not a folder" if path.exists() else f"{path} is missing"
