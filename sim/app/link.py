"""The page's view as a query string, so a link reproduces it.

A link names the preset or saved scenario the plan starts from and only what differs from it
(levers, sizes, the timeline), then the horizon, replications, seed, comparator, the plans of the
comparison, the discount rate and the open tab::

    ?preset=employees_first&training=0.12&weeks=52&reps=5&seed=1&vs=today&tab=1
    &timeline=[{"week":26,"set":{"training":0.2},"for_weeks":8}]&plans=current,cost_cutting

Reading a link never fails: each value that cannot be used (unknown key, out of range, a preset
that does not exist, a malformed timeline) is left out with a one-line notice naming the key and
what is allowed, and the rest applies. A loaded file is not on the server, so a link carries its
levers and timeline on top of the baseline preset, not its other settings.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from sim.app.limits import LIMITS
from sim.params import LEVERS, SPECS, ParameterError
from sim.scenario import ServiceScenario, parse_timeline, timeline_entries

SIZES = ("n_employees", "n_customers")
RUN_KEYS = {"weeks": "steps", "reps": "reps", "seed": "seed"}
VIEW_KEYS = ("preset", "vs", "plans", "tab", "rate", "timeline")
CURRENT = "current"       # the current edit among the compared plans


@dataclass
class View:
    """Everything a link reproduces."""

    preset: str                       # picker entry the levers came from (preset or saved)
    origin: ServiceScenario                  # that preset or saved scenario, on the page's settings
    scenario: ServiceScenario                # the plan as edited
    comparator: str = "today"
    plans: list[str] = field(default_factory=list)   # picker entries; CURRENT for the edit
    tab: int = 0
    rate: float = 8.0
    notices: list[str] = field(default_factory=list)


def _number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() \
        else value


def encode(view: View) -> str:
    """The query string (without ``?``) of a view."""
    s, o = view.scenario, view.origin
    query: list[tuple[str, str]] = [("preset", view.preset)]
    for name in (*LEVERS, *(n for n, sp in SPECS.items() if sp.is_lever and sp.structural),
                 *SIZES):
        value = getattr(s.params, name)
        if value != getattr(o.params, name):
            query.append((name, f"{value!r}" if isinstance(value, float) else str(value)))
    query += [("weeks", str(s.steps)), ("reps", str(s.reps)), ("seed", str(s.seed))]
    mine = timeline_entries(s.timeline)
    if mine != timeline_entries(o.timeline):
        query.append(("timeline", json.dumps(mine, separators=(",", ":"))))
    query.append(("vs", view.comparator))
    if view.plans:
        query.append(("plans", ",".join(view.plans)))
    if view.tab:
        query.append(("tab", str(view.tab)))
    if view.rate != 8.0:
        query.append(("rate", f"{view.rate:g}"))
    return urlencode(query, safe=":,[]{}\"")


def decode(query: str | None, default: str, load: Callable[[str], ServiceScenario],
           comparators: list[str], plan_choices: list[str], tabs: int) -> View:
    """The view of a link; ``load(entry)`` gives a preset or saved scenario on the page.

    ``default``: the preset shown without (or with an unusable) ``preset``; ``comparators`` and
    ``plan_choices``: the pickers' entries; ``tabs``: how many tabs there are.
    """
    pairs = parse_qsl(query or "", keep_blank_values=True)
    given = dict(pairs)
    notices: list[str] = []

    def refuse(key: str, why: str) -> None:
        notices.append(f"link: {key}={given.get(key, '')[:40]!r} ignored: {why}")

    preset = given.get("preset", default)
    try:
        origin = load(preset)
    except (ParameterError, OSError) as err:
        refuse("preset", str(err).splitlines()[0] if str(err) else "not usable")
        preset, origin = default, load(default)
    scenario = origin
    for key, value in pairs:
        if key in VIEW_KEYS:
            continue
        name = RUN_KEYS.get(key, key)
        if name not in SPECS and name not in RUN_KEYS.values():
            refuse(key, "not a setting of the page (levers, n_employees, n_customers, weeks, "
                   "reps, seed, timeline, vs, plans, tab, rate)")
            continue
        if name in SPECS and not (SPECS[name].is_lever or name in SIZES):
            refuse(key, "only levers, n_employees and n_customers can be set from a link")
            continue
        try:
            number = _number(value)
            if name == "steps":        # the preset's settings beyond the horizon never happen
                scenario = dataclasses.replace(scenario, timeline=tuple(
                    e for e in scenario.timeline if e.week <= number))
            scenario = LIMITS.check(scenario.with_changes(**{name: number}))
        except ValueError as err:       # ParameterError and a non-number
            why = str(err).splitlines()[0] if isinstance(err, ParameterError) else "not a number"
            refuse(key, why)
    if "timeline" in given:
        try:
            entries = json.loads(given["timeline"])
            scenario = LIMITS.check(dataclasses.replace(scenario,
                                                        timeline=tuple(parse_timeline(entries))))
        except (ValueError, ParameterError) as err:
            why = str(err).splitlines()[0] if isinstance(err, ParameterError) \
                else "not a timeline (JSON list of entries)"
            refuse("timeline", why)
    comparator = given.get("vs", comparators[0])
    if comparator not in comparators:
        refuse("vs", f"allowed: {', '.join(comparators)}")
        comparator = comparators[0]
    plans = [p for p in given.get("plans", "").split(",") if p]
    unknown = [p for p in plans if p != CURRENT and p not in plan_choices]
    if unknown:
        notices.append(f"link: plans {', '.join(repr(p[:40]) for p in unknown)} ignored: not "
                       "among the presets and saved scenarios")
        plans = [p for p in plans if p not in unknown]
    tab = 0
    if "tab" in given:
        if given["tab"].isdigit() and int(given["tab"]) < tabs:
            tab = int(given["tab"])
        else:
            refuse("tab", f"allowed 0..{tabs - 1}")
    rate = 8.0
    if "rate" in given:
        try:
            rate = float(given["rate"])
            if not 0 <= rate <= 100:
                raise ValueError
        except ValueError:
            refuse("rate", "a yearly % between 0 and 100")
            rate = 8.0
    return View(preset, origin, scenario, comparator, plans, tab, rate, notices)
