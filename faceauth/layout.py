"""Names of the data layout every task shares: the three splits and, for presentation-attack data, the
two classes and the attack type of spoof samples that sit directly in spoof/."""

SPLITS = ("train", "val", "test")
CLASSES = ("live", "spoof")
UNTYPED_ATTACK = "unlabelled"  # attacks directly in spoof/ when others sit in per-type subfolders
