"""Scenarios: a preset or YAML file naming parameter overrides and a timeline of interventions.

A scenario file looks like::

    name: invest_in_training
    description: Double ongoing training and lengthen induction.
    base: baseline            # optional: start from another preset
    start: baseline           # optional: whose levers today's organisation has (default
                              # baseline); "settled" compares settled organisations instead
    steps: 104                # weeks to simulate
    params:
      training: 0.10
    timeline:                 # optional: changes of levers during the run
      - week: 26
        set: {training: 0.2}          # from week 26 on
      - week: 40
        set: {resources: 0.9}
        for_weeks: 8                  # weeks 40-47, then back to the value in force before
      - week: 60
        ramp: {recognition: 0.8}      # linearly from the value in force at week 60 ...
        to_week: 72                   # ... to 0.8 at week 72 (one setting a week)

The compact entries (``for_weeks``, ``ramp``) are expanded into weekly settings
(:class:`Intervention`), which is all the model reads; a file with plain ``set`` entries only is
read exactly as before.

Everything is validated on load; a problem raises :class:`ScenarioError` with one line that names
the file, the key, the value and what is allowed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from sim.organisation import check_figures
from sim.params import (
    LEVERS,
    SPECS,
    ParameterError,
    Params,
    check_cross_fields,
    check_keys,
    check_names,
    shown,
)

SCENARIO_DIR = Path(
    os.environ.get("SIM_SCENARIOS", Path(__file__).resolve().parent.parent / "scenarios")
)
TOP_KEYS = (
    "name", "description", "base", "start", "organisation", "steps", "seed", "reps", "params",
    "timeline",
)
SETTLED = "settled"  # start: compare organisations settled under their own levers
MAX_STEPS = 5200


class ScenarioError(ParameterError):
    """A scenario that cannot be run as written."""


@dataclass(frozen=True)
class Intervention:
    """At the start of week ``week``, set each lever in ``changes`` to its value.

    ``entry`` is the compact timeline entry ("for N weeks, then restore", a ramp) this weekly
    setting was expanded from, so the scenario can be written back as its author wrote it and
    re-expanded when the levers it restores to change. The model ignores it.
    """

    week: int
    changes: dict[str, float | int]
    entry: TimelineEntry | None = None


@dataclass(frozen=True)
class TimelineEntry:
    """Set levers for ``for_weeks`` weeks then restore them, or ramp them to ``changes``.

    The values restored, and a ramp's starting values, are those in force just before ``week``
    (the scenario's levers and the timeline's earlier settings), so they follow the levers when
    those are edited. Weekly settings beyond the horizon are dropped: they would never happen.
    """

    week: int
    changes: dict[str, float | int]
    for_weeks: int | None = None
    to_week: int | None = None     # a ramp: the week the values are reached

    @property
    def kind(self) -> str:
        """``for_weeks`` or ``ramp``."""
        return "ramp" if self.to_week is not None else "for_weeks"

    def to_dict(self) -> dict[str, Any]:
        """The entry as written in a scenario file."""
        if self.to_week is not None:
            return {"week": self.week, "ramp": dict(self.changes), "to_week": self.to_week}
        return {"week": self.week, "set": dict(self.changes), "for_weeks": self.for_weeks}

    def expand(self, before: dict[str, float | int], steps: int) -> list[Intervention]:
        """Weekly settings of this entry within 1..``steps``; ``before``: values in force."""
        if self.to_week is None:
            assert self.for_weeks is not None
            weekly = [(self.week, dict(self.changes)),
                      (self.week + self.for_weeks, {k: before[k] for k in self.changes})]
        else:
            span = self.to_week - self.week
            weekly = [(self.week + i, {k: _between(before[k], v, i / span, k)
                                       for k, v in self.changes.items()})
                      for i in range(span + 1)]
        return [Intervention(w, c, self) for w, c in weekly if w <= steps]


def _between(start: float | int, end: float | int, share: float, lever: str) -> float | int:
    """The value ``share`` of the way from ``start`` to ``end`` (ends exact, whole if int)."""
    if share >= 1.0:
        return end
    value = min(max(start + (end - start) * share, min(start, end)), max(start, end))
    return round(value) if SPECS[lever].kind is int else value


def expand_timeline(events: tuple[Intervention, ...], params: Params,
                    steps: int) -> tuple[Intervention, ...]:
    """Weekly settings of a timeline whose compact entries follow ``params``.

    Plain settings are kept as they are; each compact entry is expanded (again) from the values
    in force just before its week, in week order. Settings of one week apply in that order (a
    later one wins).
    """
    entries: list[Intervention | TimelineEntry] = []
    for event in events:
        item = event if event.entry is None else event.entry
        if event.entry is None or not any(e is item or e == item for e in entries):
            entries.append(item)
    entries.sort(key=lambda e: e.week)
    out: list[Intervention] = []
    for item in entries:
        if isinstance(item, Intervention):
            out.append(item)
            continue
        values = {k: getattr(params, k) for k in item.changes}
        for event in sorted((e for e in out if e.week < item.week), key=lambda e: e.week):
            values.update({k: v for k, v in event.changes.items() if k in values})
        out.extend(item.expand(values, steps))
    return tuple(sorted(out, key=lambda e: e.week))


@dataclass(frozen=True)
class ServiceScenario:
    """Everything needed to run the model: parameters, horizon, timeline and seeds."""

    name: str = "custom"
    description: str = ""
    params: Params = field(default_factory=Params)
    steps: int = 104
    timeline: tuple[Intervention, ...] = ()
    seed: int = 1
    reps: int = 1
    start: str = "baseline"  # whose levers today's organisation has: a preset, a file, "settled"
    organisation: dict[str, float] | None = None  # figures today's organisation is fitted to

    def __post_init__(self) -> None:
        check_cross_fields(self.params)
        for event in self.timeline:
            week = event.week if event.entry is None else event.entry.week
            if not 1 <= week <= self.steps:
                raise ScenarioError(
                    f"timeline: week {week} is outside the horizon 1..{self.steps}"
                )
        if any(event.entry is not None for event in self.timeline):
            # Restores and ramps start from the levers in force: re-expand on every change.
            object.__setattr__(self, "timeline",
                               expand_timeline(self.timeline, self.params, self.steps))

    def with_changes(
        self,
        steps: int | None = None,
        seed: int | None = None,
        reps: int | None = None,
        **params: Any,
    ) -> ServiceScenario:
        """A copy with a new horizon, seed, replications or parameter values (all validated)."""
        return ServiceScenario(
            name=self.name,
            description=self.description,
            params=self.params.replace(**params) if params else self.params,
            steps=check_int("steps", self.steps if steps is None else steps, 1, MAX_STEPS),
            timeline=self.timeline,
            seed=check_int("seed", self.seed if seed is None else seed, 0, 2**32 - 1),
            reps=check_int("reps", self.reps if reps is None else reps, 1, 10_000),
            start=self.start,
            organisation=self.organisation,
        )

    def start_params(self) -> Params:
        """Today's parameters: this scenario's world with the start's levers.

        The world (size, behaviour, market, finance) is the scenario's; the levers are those of
        the ``start`` scenario (its own world and timeline are not used). ``start: settled``
        takes the scenario's own levers: its organisation settles under them.
        """
        if self.start == SETTLED:
            return self.params
        policies = load_scenario(self.start).params
        return self.params.replace(**{lever: getattr(policies, lever) for lever in LEVERS})

    @property
    def mode(self) -> str:
        """How the run starts, in words for outputs and the page."""
        if self.start == SETTLED:
            return "compare settled organisations"
        return f"change from today ({self.start})"

    def to_dict(self) -> dict[str, Any]:
        """The fully resolved scenario as plain data (re-runs to the same numbers)."""
        return {
            "name": self.name,
            "description": self.description,
            "steps": self.steps,
            "seed": self.seed,
            "reps": self.reps,
            "start": self.start,
            **({"organisation": dict(self.organisation)} if self.organisation else {}),
            "params": self.params.to_dict(),
            "timeline": timeline_entries(self.timeline),
        }

    def to_yaml(self) -> str:
        """The resolved scenario as YAML text."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def timeline_entries(events: tuple[Intervention, ...]) -> list[dict[str, Any]]:
    """A timeline as written in a scenario file: each compact entry once, in week order."""
    out: list[dict[str, Any]] = []
    seen: list[TimelineEntry] = []
    for event in events:
        if event.entry is None:
            out.append({"week": event.week, "set": dict(event.changes)})
        elif not any(e is event.entry or e == event.entry for e in seen):
            seen.append(event.entry)
            out.append(event.entry.to_dict())
    return out


def check_int(key: str, value: Any, low: int, high: int) -> int:
    """``value`` if it is a whole number in ``low..high``, else a one-line error naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, int):  # NaN and infinities included
        raise ScenarioError(
            f"{key}: expected a whole number, got {shown(value)} (allowed {low}..{high})"
        )
    if not low <= value <= high:
        raise ScenarioError(f"{key}={shown(value)} is out of range: allowed {low}..{high}")
    return int(value)


def preset_names() -> list[str]:
    """Names of the preset scenarios in ``scenarios/``."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def preset_path(name: str) -> Path:
    """The file of preset ``name``, or ScenarioError listing the presets."""
    path = SCENARIO_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ScenarioError(
            f"unknown scenario {name!r}: not a file and not a preset "
            f"(presets: {', '.join(preset_names())})"
        )
    return path


def parse_scenario(
    data: Any, source: str = "scenario", _seen: tuple[str, ...] = ()
) -> ServiceScenario:
    """Validate scenario data (already parsed from YAML) and build a ServiceScenario."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: expected a mapping of keys, got {type(data).__name__}")
    check_keys(data, TOP_KEYS, source, ScenarioError)
    try:
        base = ServiceScenario()
        if "base" in data:
            base_name = data["base"]
            if not isinstance(base_name, str) or base_name in _seen:
                raise ScenarioError(f"base: {base_name!r} is not a usable preset name")
            base = load_scenario(base_name, _seen=(*_seen, base_name))
        overrides = data.get("params") or {}
        if not isinstance(overrides, dict):
            raise ScenarioError(
                f"params: expected a mapping of parameter: value, got {overrides!r}"
            )
        check_names(overrides)
        timeline = base.timeline + tuple(parse_timeline(data.get("timeline") or []))
        scenario = ServiceScenario(
            name=check_text(data, "name", base.name if base.name != "custom" else "custom"),
            description=check_text(data, "description", base.description),
            params=base.params.replace(**overrides),
            steps=check_int("steps", data.get("steps", base.steps), 1, MAX_STEPS),
            timeline=timeline,
            seed=check_int("seed", data.get("seed", base.seed), 0, 2**32 - 1),
            reps=check_int("reps", data.get("reps", base.reps), 1, 10_000),
            start=_check_start(data.get("start", base.start), _seen),
            organisation=(check_figures(data["organisation"]) if "organisation" in data
                          else base.organisation),
        )
    except ParameterError as err:
        raise ScenarioError(f"{source}: {err}") from None
    return scenario


def _check_start(value: Any, seen: tuple[str, ...]) -> str:
    """A usable ``start``: "settled", a preset name or a scenario file that loads."""
    allowed = f"allowed: {SETTLED}, a preset ({', '.join(preset_names())}) or a scenario file"
    if not isinstance(value, str) or not value:
        raise ScenarioError(f"start: expected text, got {value!r} ({allowed})")
    if value != SETTLED and value not in seen:
        try:
            load_scenario(value, _seen=(*seen, value))
        except ScenarioError:
            raise ScenarioError(f"start: {value!r} is not usable ({allowed})") from None
    return value


def check_text(data: dict[str, Any], key: str, default: str) -> str:
    """``data[key]`` (or ``default``) if it is text, else a one-line error naming ``key``."""
    value = data.get(key, default)
    if not isinstance(value, str):
        raise ScenarioError(f"{key}: expected text, got {value!r}")
    return value


TIMELINE_FORMS = ("{week: W, set: {lever: value}}", "{week: W, set: {...}, for_weeks: N}",
                  "{week: W, ramp: {lever: value}, to_week: B}")


def parse_timeline(items: Any) -> list[Intervention]:
    """Timeline entries of a file; compact ones carry their entry (expanded by the scenario)."""
    if not isinstance(items, list):
        raise ScenarioError(f"timeline: expected a list of entries ({', '.join(TIMELINE_FORMS)})")
    events = []
    for item in items:
        keys = set(item) if isinstance(item, dict) else set()
        if keys not in ({"week", "set"}, {"week", "set", "for_weeks"},
                        {"week", "ramp", "to_week"}):
            raise ScenarioError(
                f"timeline: each entry needs exactly 'week' and 'set' (and optionally "
                f"'for_weeks'), or 'week', 'ramp' and 'to_week'; got {shown(item)}"
            )
        week = check_int("timeline week", item["week"], 1, MAX_STEPS)
        what = "ramp" if "ramp" in item else "set"
        checked = check_changes(item[what], f"timeline week {week}: '{what}'")
        if "for_weeks" in item:
            n = check_int(f"timeline week {week}: for_weeks", item["for_weeks"], 1, MAX_STEPS)
            entry = TimelineEntry(week, checked, for_weeks=n)
        elif "to_week" in item:
            end = check_int(f"timeline week {week}: to_week", item["to_week"], week + 1,
                            MAX_STEPS)
            entry = TimelineEntry(week, checked, to_week=end)
        else:
            events.append(Intervention(week=week, changes=checked))
            continue
        events.append(Intervention(week=week, changes=checked, entry=entry))
    return sorted(events, key=lambda e: e.week)


def check_changes(changes: Any, where: str) -> dict[str, float | int]:
    """Lever settings ``{lever: value}`` checked against the schema (one line if refused)."""
    if not isinstance(changes, dict) or not changes:
        raise ScenarioError(f"{where} must map levers to values")
    check_names(changes)
    checked = {}
    for key, value in changes.items():
        if key not in LEVERS:
            why = (" (it is structural: it sets how many units and managers the organisation "
                   "has, which are built once at the start)" if SPECS[key].structural else "")
            raise ScenarioError(
                f"{where}: {key!r} cannot change during a run{why} "
                f"(levers: {', '.join(LEVERS)})"
            )
        checked[key] = SPECS[key].check(value)
    return checked


def load_scenario(
    name_or_path: str | os.PathLike[str] = "baseline", *, _seen: tuple[str, ...] = ()
) -> ServiceScenario:
    """Load a preset by name (``"baseline"``) or a scenario YAML file by path."""
    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        if path.suffix in (".yaml", ".yml"):
            raise ScenarioError(f"scenario file {str(path)!r} does not exist")
        path = preset_path(str(name_or_path))
    return _scenario_of(read_text(path), path.name, _seen)


@lru_cache(maxsize=256)
def _scenario_of(text: str, source: str, seen: tuple[str, ...]) -> ServiceScenario:
    """The scenario a file's text describes (the same text is parsed once per process)."""
    return parse_scenario(parse_yaml(text, source), source=source, _seen=seen)


def read_input(path: Path, kind: str, error: type[ParameterError]) -> Any:
    """The data of an input YAML file (``kind``: experiment, spec), or ``error`` with one line.

    A directory, a missing file or anything but a regular file (a FIFO, a device) is refused
    before it is read, by name.
    """
    where = repr(str(path))
    expected = f"expected {'an' if kind[0] in 'aeiou' else 'a'} {kind} YAML file"
    if path.is_dir():
        raise error(f"{where} is a directory, {expected}")
    if not path.exists():
        raise error(f"{kind} file {where} does not exist")
    if not path.is_file():
        raise error(f"{where} is not a regular file, {expected}")
    return read_yaml(path, error)


def parse_input[T](parse: Callable[[Any, str, Path], T], data: Any, source: str,
                   directory: Path | None, error: type[ParameterError]) -> T:
    """``parse(data, source, directory)``, any ParameterError in it as one ``error`` line.

    The line names ``source`` (one of ``error``'s own already does); ``directory`` (default: the
    working directory) is where the file's relative paths are read from.
    """
    try:
        return parse(data, source, directory or Path.cwd())
    except error:
        raise
    except ParameterError as err:
        raise error(f"{source}: {err}") from None


def read_yaml(path: Path, error: type[ParameterError] = ScenarioError) -> Any:
    """Parse a YAML file, or raise ``error`` with one line naming the file (and the line)."""
    return parse_yaml(read_text(path, error), path.name, error)


def read_text(path: Path, error: type[ParameterError] = ScenarioError) -> str:
    """A text file's content, or ``error`` with one line naming the file."""
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"{path.name}: cannot read file ({err.__class__.__name__})") from None


def parse_yaml(text: str, source: str, error: type[ParameterError] = ScenarioError) -> Any:
    """The data of YAML ``text`` read from ``source``, or ``error`` with one line naming it."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise error(f"{source}: malformed YAML{where}") from None
    except (ValueError, RecursionError) as err:  # a number of over 4300 digits, deep nesting
        why = "nested too deeply" if isinstance(err, RecursionError) else "a number too long"
        raise error(f"{source}: malformed YAML ({why})") from None
