"""Evaluation protocols for presentation-attack detection: which items train, validate and test each fold.

A model that wins one random split can collapse on an attack or a camera it never saw, so the field
reports PAD on protocols that hold something back (OULU-NPU's unseen environment / attack / camera,
SiW-Mv2's leave-one-spoof-type-out, cross-dataset HTER). A protocol here is data: a list of folds,
each saying which items of the data go to train, val and test. Built in:

    standard               today's split: data_root's train/, val/ and test/ (one fold; the default)
    leave-one-attack-out   one fold per attack type A: train and val without A, test = bona fide + A
    leave-one-domain-out   one fold per domain D: train and val from the other domains, test = D's test/
    cross-dataset          train and val from data_root, test from --test-data-root (its test/ split)
    FILE.yaml              a custom protocol (below)

The data a protocol reads: `data_root/{train,val,test}/{live,spoof/<attack type>}/<item>`, optionally
with a domain level above the splits, `data_root/<domain>/{train,val,test}/...` (a camera, a session,
a source dataset). An item is what sits directly in live/ or spoof/<attack type>/: an image, a video
(file or frames folder) or a folder of one subject's or one video's images; items are never split
across train and test, and bootstrap intervals resample them (faceauth.evaluation.verdict).

The operating threshold of every fold is chosen on that fold's val side, which holds only what its
train side holds (no unseen attack, no unseen domain): the test side is never seen by training,
model selection or threshold choice.

A custom protocol, validated before any training starts (errors name the file and the key):

    name: my-protocol                  # optional
    folds:
      - name: unseen_print_cam_b
        train: {splits: [train], attacks: [replay, mask], domains: [cam_a]}
        val:   {splits: [val],   attacks: [replay, mask], domains: [cam_a]}
        test:  {splits: [test],  attacks: [print], domains: [cam_b]}
      - name: from_lists
        train: {files: lists/train.txt}  # item paths relative to data_root, one a line ('#' comments);
        val:   {files: lists/val.txt}    #   relative to this YAML file's folder
        test:  {files: lists/test.txt}

A side's keys (all optional): `splits` (default: the side's own name), `attacks` (attack types kept;
default all), `domains` (default all), `live` (keep bona fide items; default true), `files`.

Each fold is laid out as a data root of symbolic links under `<cache_dir>/protocols/`, so the tasks'
own loaders, caches and checks read it unchanged.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faceauth.tasks import pad_datasets
from faceauth.training.config import read_yaml_file
from faceauth.io.errors import FaceauthError
from faceauth.io.files import generated_once
from faceauth.io.layout import SPLITS, UNTYPED_ATTACK as UNTYPED
from faceauth.evaluation.metrics import higher_is_better

ROLES = ("train", "val", "test")
BUILTIN = ("standard", "leave-one-attack-out", "leave-one-domain-out", "cross-dataset")
OBJECTIVES = ("worst", "mean", "mean_plus_std")
SIDE_KEYS = ("splits", "attacks", "domains", "live", "files")
FOLD_KEYS = ("name", "train", "val", "test")
TOP_KEYS = ("name", "description", "folds")


# ------------------------------------------------------------------------------------------------ items

@dataclass(frozen=True)
class Item:
    path: Path  # absolute: an image, a video, or a folder of one subject's / one video's images
    domain: str  # '' without a domain level
    split: str
    attack_type: str  # '' for bona fide
    relpath: str  # relative to the data root: what file lists name

    @property
    def is_attack(self) -> bool:
        return self.attack_type != ""


def _visible(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if not n.startswith("."))


def _type_name(folder: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", folder.lower()).strip("_") or UNTYPED


def _split_items(root: Path, folder: Path, domain: str, split: str) -> list[Item]:
    items = []
    live, spoof = folder / "live", folder / "spoof"
    for name in _visible(live) if live.is_dir() else []:
        items.append(Item((live / name).resolve(), domain, split, "", (live / name).relative_to(root).as_posix()))
    for name in _visible(spoof) if spoof.is_dir() else []:
        path = spoof / name
        # A folder in spoof/ is an attack type (its entries are items); a file there is an untyped attack.
        members = [(path / n, _type_name(name)) for n in _visible(path)] if path.is_dir() else [(path, UNTYPED)]
        items += [Item(p.resolve(), domain, split, kind, p.relative_to(root).as_posix()) for p, kind in members]
    return items


def is_flat(root: Path) -> bool:
    return any((root / s).is_dir() for s in SPLITS)


def scan_items(root: Path, what: str = "data_root", dataset: str = "auto") -> list[Item]:
    """Every item under root: of a public dataset in its shipped layout (faceauth.tasks.pad_datasets), or of
    faceauth's layout, with or without a domain level above the splits."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FaceauthError(f"{what} {root} does not exist or is not a folder")
    shipped = pad_datasets.reader(root, dataset)
    if shipped is not None:
        return [Item(m.path, "", m.split, m.attack_type, m.relpath) for m in shipped.read(root)]
    if is_flat(root):
        places = [("", root)]
    elif (root / "live").is_dir() and (root / "spoof").is_dir():
        return _split_items(root, root, "", "test")  # a test split on its own (cross-dataset)
    else:
        places = [(d, root / d) for d in _visible(root) if (root / d).is_dir() and is_flat(root / d)]
        if not places:
            raise FaceauthError(f"{what} {root}: expected {{train,val,test}}/{{live,spoof}}/ or <domain>/{{train,val,test}}/"
                                "{live,spoof}/ (one folder per domain)")
    items = []
    for domain, base in places:
        for split in SPLITS:
            if (base / split).is_dir():
                items += _split_items(root, base / split, domain, split)
    if not items:
        raise FaceauthError(f"{what} {root} holds no items in live/ or spoof/")
    return items


# -------------------------------------------------------------------------------------------- protocols

@dataclass(frozen=True)
class Side:
    splits: tuple[str, ...]
    attacks: tuple[str, ...] | None = None  # None: every attack type
    domains: tuple[str, ...] | None = None  # None: every domain
    live: bool = True
    files: frozenset[str] | None = None  # item relpaths; None: no list
    other_root: bool = False  # cross-dataset: items of the test data root

    def selects(self, item: Item) -> bool:
        if self.files is not None and item.relpath not in self.files:
            return False
        if item.split not in self.splits:
            return False
        if self.domains is not None and item.domain not in self.domains:
            return False
        if not item.is_attack:
            return self.live
        return self.attacks is None or item.attack_type in self.attacks


@dataclass(frozen=True)
class Fold:
    name: str
    train: Side
    val: Side
    test: Side

    def side(self, role: str) -> Side:
        return {"train": self.train, "val": self.val, "test": self.test}[role]


@dataclass(frozen=True)
class Protocol:
    name: str
    folds: tuple[Fold, ...]
    source: str = "built in"
    test_root: Path | None = None


def _standard_sides(attacks=None, domains=None) -> tuple[Side, Side]:
    return Side(("train",), attacks, domains), Side(("val",), attacks, domains)


def builtin_protocol(name: str, items: list[Item], test_root: Path | None = None) -> Protocol:
    """The folds of a built-in protocol on these items (attack types and domains come from the data)."""
    attack_types = sorted({i.attack_type for i in items if i.is_attack and i.attack_type != UNTYPED})
    domains = sorted({i.domain for i in items})
    if name == "standard":
        return Protocol(name, (Fold("standard", *_standard_sides(), Side(("test",))),))
    if name == "leave-one-attack-out":
        if len(attack_types) < 2:
            raise FaceauthError(f"protocol leave-one-attack-out needs at least two attack types in spoof/<attack type>/; "
                                f"the data has {attack_types or 'none'}: put each attack type in its own folder")
        folds = []
        for held in attack_types:
            rest = tuple(a for a in attack_types if a != held)
            folds.append(Fold(f"unseen_{held}", *_standard_sides(attacks=rest), Side(("test",), attacks=(held,))))
        return Protocol(name, tuple(folds))
    if name == "leave-one-domain-out":
        if len(domains) < 2 or "" in domains:
            raise FaceauthError("protocol leave-one-domain-out needs at least two domains: data_root/<domain>/{train,val,test}/; "
                                "the data has no domain level" + (f" (found {domains})" if "" not in domains else ""))
        folds = []
        for held in domains:
            rest = tuple(d for d in domains if d != held)
            folds.append(Fold(f"unseen_{_type_name(held)}", *_standard_sides(domains=rest), Side(("test",), domains=(held,))))
        return Protocol(name, tuple(folds))
    if name == "cross-dataset":
        if test_root is None:
            raise FaceauthError("protocol cross-dataset needs --test-data-root DIR: the second data root (its test/ split "
                                "is the test side; threshold and model are chosen on data_root's train and val)")
        return Protocol(name, (Fold("cross_dataset", *_standard_sides(), Side(("test",), other_root=True)),),
                        test_root=Path(test_root).expanduser())
    raise FaceauthError(f"unknown protocol '{name}'; use one of {', '.join(BUILTIN)} or a protocol YAML file")


def _unknown(keys, allowed, where: str) -> None:
    for key in keys:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            raise FaceauthError(f"{where}: unknown key '{key}'" + (f" (did you mean '{close[0]}'?)" if close else "")
                                + f"; allowed keys: {', '.join(allowed)}")


def _names(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise FaceauthError(f"{where} must be a non-empty list of names, got {value!r}")
    return tuple(value)


def _side(raw: Any, role: str, where: str, base: Path) -> Side:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise FaceauthError(f"{where} must be a mapping with keys {', '.join(SIDE_KEYS)}, got {raw!r}")
    _unknown(raw, SIDE_KEYS, where)
    splits = _names(raw.get("splits", [role]), f"{where}.splits")
    for split in splits:
        if split not in SPLITS:
            raise FaceauthError(f"{where}.splits: '{split}' is not a split; use {', '.join(SPLITS)}")
    live = raw.get("live", True)
    if not isinstance(live, bool):
        raise FaceauthError(f"{where}.live must be true or false, got {live!r}")
    files = None
    if "files" in raw:
        if not isinstance(raw["files"], str):
            raise FaceauthError(f"{where}.files must be the path of a text file listing items, got {raw['files']!r}")
        path = (base / raw["files"]).expanduser()
        if not path.is_file():
            raise FaceauthError(f"{where}.files: {path} does not exist; give a text file (relative to the protocol file) "
                                "with one item path (relative to data_root) a line")
        lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
        files = frozenset(line.strip("/") for line in lines if line)
        if not files:
            raise FaceauthError(f"{where}.files: {path} lists no items")
        if "splits" not in raw:
            splits = SPLITS  # a list decides on its own which split its items come from
    return Side(splits, _names(raw["attacks"], f"{where}.attacks") if "attacks" in raw else None,
                _names(raw["domains"], f"{where}.domains") if "domains" in raw else None, live, files)


def load_protocol_file(path: str | Path) -> Protocol:
    """A custom protocol from YAML; every mistake names the file, the key and the fix."""
    path = Path(path).expanduser()
    raw = read_yaml_file(path, f"protocol file {path}",
                         f"protocol {path}: no such file; use one of {', '.join(BUILTIN)} or a protocol YAML file",
                         "pass a protocol YAML file to --protocol")
    if not isinstance(raw, dict):
        raise FaceauthError(f"protocol file {path} must hold a mapping with a 'folds' list")
    _unknown(raw, TOP_KEYS, f"protocol file {path}")
    folds_raw = raw.get("folds")
    if not isinstance(folds_raw, list) or not folds_raw:
        raise FaceauthError(f"protocol file {path}: 'folds' must be a non-empty list of folds (name, train, val, test)")
    folds, seen = [], set()
    for index, fold in enumerate(folds_raw):
        where = f"protocol file {path}: folds[{index}]"
        if not isinstance(fold, dict):
            raise FaceauthError(f"{where} must be a mapping with keys {', '.join(FOLD_KEYS)}")
        _unknown(fold, FOLD_KEYS, where)
        name = fold.get("name", f"fold{index}")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name in seen:
            raise FaceauthError(f"{where}.name must be a unique name of letters, digits, '_', '-' or '.', got {name!r}")
        seen.add(name)
        if "test" not in fold or "train" not in fold:
            raise FaceauthError(f"{where}: needs at least 'train' and 'test' sides ('val' defaults to the val split)")
        folds.append(Fold(name, *(_side(fold.get(role), role, f"{where}.{role}", path.parent) for role in ROLES)))
    return Protocol(str(raw.get("name", path.stem)), tuple(folds), source=str(path))


def shipped_protocol(root: Path, name: str, dataset: str, items: list[Item]) -> Protocol:
    """A protocol a public dataset ships as lists (e.g. oulu-npu-3): each fold's sides are the items its
    lists name, whatever split folder they lie in."""
    owner = pad_datasets.protocol_names()[name]
    shipped = pad_datasets.reader(root, dataset)
    if shipped is None or shipped.NAME != owner:
        raise FaceauthError(f"protocol {name} is {owner}'s; --data-root {root} is "
                            f"{'not a shipped dataset' if shipped is None else shipped.NAME}: point it at {owner} as it ships "
                            f"({pad_datasets.reader_of(owner).EXPECTED})")
    folds = tuple(Fold(f.name, Side(SPLITS, files=f.train), Side(SPLITS, files=f.val), Side(SPLITS, files=f.test))
                  for f in shipped.protocol(root, name, {i.relpath for i in items}))
    return Protocol(name, folds, source=f"{owner} {name}")


def known_protocols() -> tuple[str, ...]:
    """Every protocol --protocol takes by name: the built-in ones and those the public datasets ship."""
    return (*BUILTIN, *pad_datasets.protocol_names())


def resolve_protocol(config, items: list[Item], root: Path | None = None) -> Protocol:
    name = config.protocol
    if name in pad_datasets.protocol_names():
        if root is None:
            raise FaceauthError(f"protocol {name} needs --data-root: the dataset as it ships")
        return shipped_protocol(root, name, getattr(config, "dataset", "auto"), items)
    if name in BUILTIN:
        return builtin_protocol(name, items, Path(config.test_data_root) if config.test_data_root else None)
    if name.endswith((".yaml", ".yml")) or os.sep in name or Path(name).exists():
        return load_protocol_file(name)
    raise FaceauthError(f"unknown protocol '{name}'; use one of {', '.join(known_protocols())} or the path of a protocol YAML file")


def uses_folds(config) -> bool:
    """Whether a run goes through the protocol's folds: any protocol but `standard` on faceauth's flat
    layout (a public dataset in its shipped layout is read through folds too)."""
    if config.protocol != "standard" or config.synthetic_domains > 0:
        return True
    if config.data_root is None or config.synthetic:
        return False
    root = Path(config.data_root).expanduser()
    return not is_flat(root) or pad_datasets.reader(root, getattr(config, "dataset", "auto")) is not None


# ------------------------------------------------------------------------------------------------ folds

@dataclass(frozen=True)
class FoldData:
    name: str
    root: Path  # a data root of links: {train,val,test}/{live,spoof/<type>}/...
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # role -> class or attack type -> items


def _assign(protocol: Protocol, items: list[Item], test_items: list[Item]) -> list[dict[str, list[Item]]]:
    """role -> items for each fold; checks what would make a fold meaningless (empty sides, leaks)."""
    present_attacks = {i.attack_type for i in items + test_items if i.is_attack}
    present_domains = {i.domain for i in items + test_items}
    assigned = []
    for fold in protocol.folds:
        where = f"protocol {protocol.source if protocol.source != 'built in' else protocol.name}, fold '{fold.name}'"
        sides = {}
        for role in ROLES:
            side = fold.side(role)
            for key, wanted, present in (("attacks", side.attacks, present_attacks), ("domains", side.domains, present_domains)):
                missing = sorted(set(wanted or ()) - present)
                if missing:
                    raise FaceauthError(f"{where}: {role}.{key} names {', '.join(missing)}, which the data does not have; "
                                        f"it has {', '.join(sorted(present)) or 'none'}")
            pool = test_items if side.other_root else items
            chosen = [i for i in pool if side.selects(i)]
            if side.files is not None:
                unknown = sorted(side.files - {i.relpath for i in pool})
                if unknown:
                    raise FaceauthError(f"{where}: {role}.files lists {len(unknown)} item(s) not in the data, e.g. '{unknown[0]}'; "
                                        "paths are relative to data_root (e.g. train/live/00001.jpg)")
            for label, wanted_attack in (("bona fide", False), ("attack", True)):
                if not any(i.is_attack == wanted_attack for i in chosen):
                    raise FaceauthError(f"{where}: the {role} side holds no {label} items; widen its selection")
            sides[role] = chosen
        for a, b in (("train", "test"), ("val", "test"), ("train", "val")):
            shared = {i.path for i in sides[a]} & {i.path for i in sides[b]}
            if shared:
                raise FaceauthError(f"{where}: {len(shared)} item(s) are in both {a} and {b} (e.g. {sorted(shared)[0]}); "
                                    "a fold's sides must not share items")
        assigned.append(sides)
    return assigned


def _link_name(item: Item, other_root: bool) -> str:
    """The item's path under its root, one name: items of different subject folders (CASIA-FASD's
    train_release/1/1.avi and train_release/2/1.avi) never collide."""
    return ("x__" if other_root else "") + item.relpath.replace("/", "__")


SOURCE_FILE = "source.json"  # in a protocol's folder: the data root its folds were cut from


def materialise(protocol: Protocol, items: list[Item], cache_dir: str | Path, test_items: list[Item] = (),
                source: Path | None = None) -> list[FoldData]:
    """Each fold as a data root of links under <cache_dir>/protocols/, built once (atomically) and reused."""
    test_items = list(test_items)
    assigned = _assign(protocol, items, test_items)
    layout = []
    for fold, sides in zip(protocol.folds, assigned):
        links = []
        for role, chosen in sides.items():
            other = fold.side(role).other_root
            for item in chosen:
                cls = "live" if not item.is_attack else ("spoof" if item.attack_type == UNTYPED else f"spoof/{item.attack_type}")
                links.append((f"{fold.name}/{role}/{cls}/{_link_name(item, other)}", str(item.path)))
        layout.append((fold.name, sorted(links)))
    digest = hashlib.sha256(json.dumps([protocol.name, layout]).encode()).hexdigest()[:16]
    base = Path(cache_dir).expanduser() / "protocols"
    target = base / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', protocol.name)}-{digest}"

    def write(folder: Path) -> None:
        folder.mkdir(parents=True)
        (folder / SOURCE_FILE).write_text(json.dumps({"data_root": str(source) if source else None}))
        for _, links in layout:
            for link, path in links:
                (folder / link).parent.mkdir(parents=True, exist_ok=True)
                os.symlink(path, folder / link)

    generated_once(target, write)
    folds = []
    for fold, sides in zip(protocol.folds, assigned):
        counts = {role: _counts(chosen) for role, chosen in sides.items()}
        folds.append(FoldData(fold.name, target / fold.name, counts))
    return folds


def source_of(fold_root: str | Path) -> str | None:
    """The data root a fold's data root was cut from (None: not a fold's data root)."""
    marker = Path(fold_root).expanduser().parent / SOURCE_FILE
    try:
        value = json.loads(marker.read_text()).get("data_root")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _counts(items: list[Item]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        key = item.attack_type or "live"
        counts[key] = counts.get(key, 0) + 1
    return counts


def describe(folds: list[FoldData]) -> str:
    return "; ".join(f"{f.name}: " + ", ".join(f"{role} " + "/".join(f"{k} {n}" for k, n in sorted(c.items()))
                                                for role, c in f.counts.items()) for f in folds)


# ------------------------------------------------------------------------------------------- aggregation

def aggregate(values: list[float], metric: str, objective: str) -> float:
    """The folds' values as one number: the worst fold, the mean, or the mean penalised by one
    standard deviation (population) in the bad direction."""
    array = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    if array.size == 0:
        return float("nan")
    high = higher_is_better(metric)
    if objective == "worst":
        return float(array.min() if high else array.max())
    if objective == "mean":
        return float(array.mean())
    if objective == "mean_plus_std":
        return float(array.mean() - array.std() if high else array.mean() + array.std())
    raise FaceauthError(f"protocol_objective must be one of {', '.join(OBJECTIVES)}, got '{objective}'")


def aggregate_metrics(per_fold: dict[str, dict[str, Any]], objective: str) -> dict[str, float]:
    """Every numeric metric the folds share, aggregated (thresholds and counters are not metrics)."""
    keys = [k for k in next(iter(per_fold.values()))
            if k != "threshold" and all(isinstance(m.get(k), (int, float)) and not isinstance(m.get(k), bool)
                                        for m in per_fold.values())]
    return {k: aggregate([m[k] for m in per_fold.values()], k, objective) for k in keys}
