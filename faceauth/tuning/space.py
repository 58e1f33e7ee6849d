"""Search spaces are data: `search_spaces/<task>.yaml` names the metric, its mode and the distribution
of each hyperparameter. This module validates the file against the task's config class (before Ray
starts) and samples it for Optuna, a parameter at a time (`SampleActive`).

    metric: tar_at_far_1e-3          # a metric the task reports each epoch
    mode: max
    parameters:
      lr: {type: log_float, low: 1.0e-4, high: 1.0e-2, default: 1.0e-3}
      dropout: {type: float, low: 0.0, high: 0.5, step: 0.05}
      batch_size: {type: categorical, choices: [32, 64, 128]}
      hidden_sizes: {type: categorical, choices: [[512], [512, 256, 512]]}
    fixed:                           # optional: config values every trial uses
      epochs: 30
    also_evaluate:                   # optional: points tried right after the defaults, each
      - {loss: triplet}              #   the defaults with these values changed

Several objectives and constraints (faceauth.tuning.objectives), instead of metric and mode:

    objectives: [eer:min, onnx_latency_ms:min]   # the first accuracy metric is the primary one
    constraints: ["onnx_latency_ms<=2.5"]        # METRIC<=VALUE or METRIC>=VALUE

Types: float, log_float, int, log_int (with low, high, optional step) and categorical (choices).
`default` (optional) is evaluated first; without one, the trainer config's default is used when it
lies in the range.

Conditional parameters: `when` makes a parameter active only where categorical parameters take
given values (one value or a list of them; several keys must all hold):

    fusion_kind: {type: categorical, choices: [score_average, linear, mlp]}
    lr: {type: log_float, low: 1.0e-4, high: 1.0e-2, when: {fusion_kind: mlp}}
    out_dim: {type: categorical, choices: [128, 256], when: {fusion_kind: [linear, mlp]}}

An inactive parameter is not sampled (Optuna's define-by-run: `SampleActive`), leaves the trainer
config's value as it is, is empty in trials.parquet and plays no part in the importance analysis,
the warm start or the check for a configuration already evaluated (`config_key`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints


from faceauth.training.config import build_config, coerce, config_keys, read_yaml_file
from faceauth.io.errors import FaceauthError
from faceauth.tuning.objectives import (Constraint, check_objectives, parse_constraint, parse_objective,
                                        primary_objective)
from faceauth.training.fit import Objective

TYPES = ("float", "log_float", "int", "log_int", "categorical")
# search_spaces/ at the top of the checkout, linked into the package (faceauth/search_spaces) so that a
# wheel ships the same files as package data.
SEARCH_SPACES_DIR = Path(__file__).resolve().parents[1] / "search_spaces"
_PRIMITIVE = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] = ()
    default: Any = None
    # Active only where each named (categorical) parameter takes one of its listed values; {}: always.
    when: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def encode(self, value: Any) -> Any:
        """Optuna's categorical choices must be primitives: a list choice travels as its JSON text."""
        return value if isinstance(value, _PRIMITIVE) else json.dumps(value)

    def decode(self, value: Any) -> Any:
        if self.type == "categorical" and isinstance(value, str) and not all(isinstance(c, str) for c in self.choices):
            return json.loads(value)
        return value

    def contains(self, value: Any) -> bool:
        if self.type == "categorical":
            return value in self.choices
        return self.low <= value <= self.high

    def active_under(self, values: dict[str, Any]) -> bool:
        """Whether this parameter is active given the (decoded) values of the parameters before it."""
        return all(name in values and values[name] in allowed for name, allowed in self.when.items())

    def distribution(self) -> Any:
        """The Optuna distribution the searcher samples from (both ends of every range included)."""
        import optuna

        if self.type == "categorical":
            return optuna.distributions.CategoricalDistribution([self.encode(c) for c in self.choices])
        log = self.type.startswith("log")
        if self.type.endswith("int"):
            return optuna.distributions.IntDistribution(int(self.low), int(self.high), log=log,
                                                        step=1 if log else int(self.step or 1))
        return optuna.distributions.FloatDistribution(self.low, self.high, log=log, step=None if log else self.step)

    def suggest(self, trial: Any) -> Any:
        """Sample this parameter from an Optuna trial (encoded)."""
        import optuna

        d = self.distribution()
        if isinstance(d, optuna.distributions.CategoricalDistribution):
            return trial.suggest_categorical(self.name, list(d.choices))
        if isinstance(d, optuna.distributions.IntDistribution):
            return trial.suggest_int(self.name, d.low, d.high, step=d.step, log=d.log)
        return trial.suggest_float(self.name, d.low, d.high, step=d.step, log=d.log)


@dataclass(frozen=True)
class SearchSpace:
    path: str
    metric: str
    mode: str
    parameters: dict[str, Parameter]
    fixed: dict[str, Any] = field(default_factory=dict)
    also_evaluate: tuple[dict[str, Any], ...] = ()
    # Every objective in the order given; `metric`/`mode` are the accuracy (primary) one among them.
    objectives: tuple[Objective, ...] = ()
    constraints: tuple[Constraint, ...] = ()

    def __post_init__(self) -> None:
        if not self.objectives:
            object.__setattr__(self, "objectives", (Objective(self.metric, self.mode),))

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    def active(self, values: dict[str, Any]) -> dict[str, Any]:
        """The entries of `values` (decoded) whose parameters are active under them; `parameters` is in
        an order where every condition comes before the parameters it governs."""
        return {**{k: v for k, v in values.items() if k not in self.parameters}, **_active(self.parameters, values)}

    def config_key(self, sampled: dict[str, Any]) -> str:
        """One configuration's identity: its active values (encoded or decoded alike), so two suggestions
        that differ only in parameters their trainer does not read are the same configuration."""
        active = self.active(self.decode(sampled))
        return json.dumps({k: active[k] for k in sorted(active) if k in self.parameters}, sort_keys=True)

    def optuna_distributions(self) -> dict[str, Any]:
        """Each parameter's Optuna distribution (categorical choices encoded as `Parameter.encode` does)."""
        return {name: p.distribution() for name, p in self.parameters.items()}

    def defaults(self) -> dict[str, Any]:
        """The first point to evaluate, its active parameters only (encoded like the param space)."""
        return self._encode(self.active(self._default_values()))

    def _default_values(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.parameters.values() if p.default is not None}

    def _encode(self, values: dict[str, Any]) -> dict[str, Any]:
        return {k: self.parameters[k].encode(v) for k, v in values.items()}

    def points_to_evaluate(self) -> list[dict[str, Any]]:
        """The defaults, then each `also_evaluate` entry over them (encoded like the param space), each
        with its active parameters only and each configuration once."""
        defaults = self._default_values()
        points, keys = [], set()
        for values in (defaults, *({**defaults, **point} for point in self.also_evaluate)):
            point = self._encode(self.active(values))
            if point and self.config_key(point) not in keys:
                keys.add(self.config_key(point))
                points.append(point)
        return points

    def decode(self, sampled: dict[str, Any]) -> dict[str, Any]:
        """Sampled values back to config values (list choices from their JSON text)."""
        return {k: self.parameters[k].decode(v) if k in self.parameters else v for k, v in sampled.items()}


def _active(parameters: dict[str, Parameter], values: dict[str, Any]) -> dict[str, Any]:
    """The searched entries of `values` that are active, walking `parameters` in condition order."""
    kept: dict[str, Any] = {}
    for name, p in parameters.items():
        if name in values and p.active_under(kept):
            kept[name] = values[name]
    return kept


class SampleActive:
    """Optuna define-by-run: sample the active parameters only, each condition before what it governs.
    A class, not a closure: the searcher (and so this) is pickled into Tune's state for --resume."""

    def __init__(self, space: SearchSpace):
        self.space = space

    def __call__(self, trial: Any) -> None:
        sampled: dict[str, Any] = {}
        for name, p in self.space.parameters.items():
            if p.active_under(sampled):
                sampled[name] = p.decode(p.suggest(trial))
        return None  # Ray's searcher records each suggest_* call's value


def default_space_path(task: str) -> Path:
    return SEARCH_SPACES_DIR / f"{task}.yaml"


def load_search_space(path: str | Path, config_cls: type, metric_names: tuple[str, ...]) -> SearchSpace:
    """Read and validate a search space; every error names the file and the key."""
    path = Path(path)
    raw = read_yaml_file(path, f"search space {path}",
                         f"search space {path} does not exist; pass a YAML file to --search-space",
                         "pass a YAML file to --search-space")
    if not isinstance(raw, dict):
        raise FaceauthError(f"search space {path} must be a mapping with metric, mode and parameters")
    unknown_top = set(raw) - {"metric", "mode", "objectives", "constraints", "parameters", "fixed", "also_evaluate"}
    if unknown_top:
        raise FaceauthError(f"{path}: unknown top-level key(s) {', '.join(sorted(unknown_top))}; "
                            "allowed: metric, mode, objectives, constraints, parameters, fixed, also_evaluate")
    metric, mode = raw.get("metric"), raw.get("mode")
    objectives_raw = raw.get("objectives")
    if objectives_raw is not None:
        if not isinstance(objectives_raw, list) or not objectives_raw:
            raise FaceauthError(f"{path}: 'objectives' must be a list such as [eer:min, onnx_latency_ms:min]")
        objectives = tuple(parse_objective(o, metric_names, f"{path}: objectives[{i}]") for i, o in enumerate(objectives_raw))
        check_objectives(objectives, str(path))
        primary = primary_objective(objectives, metric_names, str(path))
        if metric is not None and (metric, mode) != (primary.metric, primary.mode):
            raise FaceauthError(f"{path}: metric/mode ({metric}, {mode}) disagree with the first accuracy objective "
                                f"({primary.metric}:{primary.mode}); drop metric and mode when objectives are given")
        metric, mode = primary.metric, primary.mode
    else:
        if metric not in metric_names:
            raise FaceauthError(f"{path}: metric '{metric}' is not one the task reports; choose one of {', '.join(metric_names)}")
        if mode not in ("max", "min"):
            raise FaceauthError(f"{path}: mode must be 'max' or 'min', got {mode!r}")
        objectives = (Objective(metric, mode),)
    constraints_raw = raw.get("constraints") or []
    if not isinstance(constraints_raw, list):
        raise FaceauthError(f"{path}: 'constraints' must be a list such as [\"onnx_latency_ms<=2.5\"]")
    constraints = tuple(parse_constraint(c, metric_names, f"{path}: constraints[{i}]") for i, c in enumerate(constraints_raw))
    params_raw = raw.get("parameters")
    if not isinstance(params_raw, dict) or not params_raw:
        raise FaceauthError(f"{path}: 'parameters' must map at least one config key to a distribution")

    known = config_keys(config_cls)
    defaults = build_config(config_cls, {}, str(path))
    hints = get_type_hints(config_cls)
    parameters = {}
    for name, spec in params_raw.items():
        where = f"{path}: parameter '{name}'"
        if name not in known:
            raise FaceauthError(f"{where} is not a field of {config_cls.__name__}; valid fields: {', '.join(known)}")
        parameters[name] = _parameter(name, spec, where, hints[name], getattr(defaults, name))
    parameters = _with_conditions(path, params_raw, parameters, hints)
    fixed = raw.get("fixed") or {}
    if not isinstance(fixed, dict):
        raise FaceauthError(f"{path}: 'fixed' must be a mapping of config keys to values")
    overlap = set(fixed) & set(parameters)
    if overlap:
        raise FaceauthError(f"{path}: key(s) {', '.join(sorted(overlap))} are both fixed and searched")
    build_config(config_cls, fixed, f"{path}: fixed")  # unknown keys and wrong types, named
    also = raw.get("also_evaluate") or []
    if not isinstance(also, list) or not all(isinstance(p, dict) and p for p in also):
        raise FaceauthError(f"{path}: 'also_evaluate' must be a list of mappings of searched keys to values")
    points = []
    for index, point in enumerate(also):
        converted = {}
        for name, value in point.items():
            where = f"{path}: also_evaluate[{index}] key '{name}'"
            if name not in parameters:
                raise FaceauthError(f"{where} is not a searched parameter; searched: {', '.join(parameters)}")
            value = coerce(value, hints[name], where)
            value = list(value) if isinstance(value, tuple) else value
            if not parameters[name].contains(value):
                raise FaceauthError(f"{where}: {value!r} lies outside its range or choices")
            converted[name] = value
        _check_point_active(path, index, converted, parameters)
        points.append(converted)
    return SearchSpace(str(path), metric, mode, parameters, dict(fixed), tuple(points), objectives, constraints)


def with_objectives(space: SearchSpace, objectives: list[str] | None, constraints: list[str] | None,
                    metric_names: tuple[str, ...]) -> SearchSpace:
    """The space with the command line's --objective / --constraint flags, each replacing the file's
    list when given."""
    changes: dict[str, Any] = {}
    if objectives:
        parsed = tuple(parse_objective(o, metric_names, "--objective") for o in objectives)
        check_objectives(parsed, "--objective")
        primary = primary_objective(parsed, metric_names, "--objective")
        changes.update(objectives=parsed, metric=primary.metric, mode=primary.mode)
    if constraints:
        changes["constraints"] = tuple(parse_constraint(c, metric_names, "--constraint") for c in constraints)
    return dataclasses.replace(space, **changes) if changes else space


def _parameter(name: str, spec: Any, where: str, hint: Any, config_default: Any) -> Parameter:
    if not isinstance(spec, dict):
        raise FaceauthError(f"{where} must be a mapping with a type, e.g. {{type: float, low: 0, high: 1}}")
    kind = spec.get("type")
    if kind not in TYPES:
        raise FaceauthError(f"{where}: type must be one of {', '.join(TYPES)}, got {kind!r}")
    allowed = {"type", "default", "when"} | ({"choices"} if kind == "categorical" else {"low", "high", "step"})
    extra = set(spec) - allowed
    if extra:
        raise FaceauthError(f"{where}: key(s) {', '.join(sorted(extra))} do not apply to type {kind}")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise FaceauthError(f"{where}: 'choices' must be a non-empty list")
        choices = tuple(coerce(c, hint, f"{where} choice") for c in choices)
        choices = tuple(list(c) if isinstance(c, tuple) else c for c in choices)
        param = Parameter(name, kind, choices=choices)
    else:
        low, high, step = spec.get("low"), spec.get("high"), spec.get("step")
        for key, value in (("low", low), ("high", high)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise FaceauthError(f"{where}: '{key}' must be a number, got {value!r}")
        if low > high:
            raise FaceauthError(f"{where}: low ({low}) is greater than high ({high})")
        if kind.startswith("log") and low <= 0:
            raise FaceauthError(f"{where}: a log range must lie above 0, but low is {low}; use type "
                                f"{kind.removeprefix('log_')} or a positive low")
        if step is not None and (not isinstance(step, (int, float)) or step <= 0):
            raise FaceauthError(f"{where}: 'step' must be a positive number, got {step!r}")
        if kind.endswith("int") and not all(float(v).is_integer() for v in (low, high, step or 1)):
            raise FaceauthError(f"{where}: an int range needs whole-number low, high and step")
        # A float range on an int field would sample values the config refuses.
        coerce(low + 0.5 if kind.endswith("float") else low, hint, f"{where} ({kind} range) value")
        param = Parameter(name, kind, low=low, high=high, step=step)
    default = spec.get("default")
    if default is None:
        candidate = list(config_default) if isinstance(config_default, tuple) else config_default
        default = candidate if param.contains(candidate) else None
    else:
        default = coerce(default, hint, f"{where} default")
        default = list(default) if isinstance(default, tuple) else default
        if not param.contains(default):
            raise FaceauthError(f"{where}: default {default!r} lies outside its range or choices")
    return Parameter(**{**param.__dict__, "default": default})


def _with_conditions(path: Path, params_raw: dict, parameters: dict[str, Parameter], hints: dict) -> dict[str, Parameter]:
    """Each parameter's `when`, checked (a searched categorical parameter, values among its choices, no
    cycle), and the parameters in an order where every condition comes before what it governs."""
    conditions: dict[str, dict[str, tuple[Any, ...]]] = {}
    for name, spec in params_raw.items():
        when = spec.get("when")
        where = f"{path}: parameter '{name}' when"
        if when is None:
            conditions[name] = {}
            continue
        if not isinstance(when, dict) or not when:
            raise FaceauthError(f"{where} must map a categorical parameter to a value or a list of values, "
                                "e.g. when: {fusion_kind: mlp}")
        conditions[name] = {}
        for other, value in when.items():
            if other not in parameters:
                raise FaceauthError(f"{where}: '{other}' is not a searched parameter; searched: {', '.join(parameters)}")
            if other == name:
                raise FaceauthError(f"{where}: a parameter cannot depend on itself")
            condition = parameters[other]
            if condition.type != "categorical":
                raise FaceauthError(f"{where}: '{other}' is a {condition.type} range; a condition needs a categorical parameter")
            # A list lists alternatives, unless the choices are lists themselves (then a list of lists does).
            if any(isinstance(c, list) for c in condition.choices):
                items = value if isinstance(value, list) and value and all(isinstance(v, list) for v in value) else [value]
            else:
                items = value if isinstance(value, list) else [value]
            allowed = []
            for item in items:
                item = coerce(item, hints[other], f"{where} {other}")
                item = list(item) if isinstance(item, tuple) else item
                if item not in condition.choices:
                    raise FaceauthError(f"{where}: {other} = {item!r} is not one of its choices "
                                        f"({', '.join(map(repr, condition.choices))})")
                allowed.append(item)
            conditions[name][other] = tuple(allowed)
    ordered: list[str] = []
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            cycle = " -> ".join([*visiting[visiting.index(name):], name])
            raise FaceauthError(f"{path}: the 'when' conditions form a cycle ({cycle}); a parameter's condition "
                                "may not depend on the parameter itself")
        visiting.append(name)
        for other in conditions[name]:
            visit(other)
        visiting.pop()
        ordered.append(name)

    for name in parameters:
        visit(name)
    return {name: dataclasses.replace(parameters[name], when=conditions[name]) for name in ordered}


def _check_point_active(path: Path, index: int, point: dict[str, Any], parameters: dict[str, Parameter]) -> None:
    """An also_evaluate entry may not set a parameter its own values switch off (it would be ignored)."""
    active = _active(parameters, {**{p.name: p.default for p in parameters.values() if p.default is not None}, **point})
    for name in point:
        if name not in active:
            condition = ", ".join(f"{k} in {list(v)}" for k, v in parameters[name].when.items())
            raise FaceauthError(f"{path}: also_evaluate[{index}] sets '{name}', which is inactive there (it applies only "
                                f"when {condition}); drop it from that entry")
