"""The sidebar: pickers, levers, the world and run settings.

Also the question asked before a picked preset drops an edited timeline.

Every size the sidebar accepts is checked against the page's limits,
:data:`sim.app.limits.LIMITS`; a refused value is named in one line under its input.
"""

from __future__ import annotations

import solara
import solara.lab

from sim.app import charts
from sim.app.components import LEVER_TITLES, LeverSlider, aria
from sim.app.entries import comparator_names, label
from sim.app.limits import LIMITS
from sim.params import LEVER_GROUPS, SPECS, ParameterError
from sim.scenario import ServiceScenario, load_scenario


@solara.component
def Sidebar(
    scenario: ServiceScenario,
    origin: ServiceScenario,
    presets: list[str],
    saved: list[str],
    preset: str,
    choose_preset,
    baseline_name: str,
    set_baseline_name,
    change,
    set_scenario,
):
    """Scenario and baseline pickers, grouped levers, and the world and run settings."""
    stories = solara.use_memo(lambda: {n: load_scenario(n).description for n in presets}, [])

    def reset() -> None:
        try:
            set_scenario(origin.with_changes(steps=scenario.steps, seed=scenario.seed,
                                             reps=scenario.reps))
        except ParameterError:  # the origin's timeline does not fit the current horizon
            set_scenario(origin)  # admitted when it was loaded

    with solara.Div(classes=["spc-section"]):
        solara.Text("Scenario", classes=["spc-section-title"])
        choices = [*presets, *saved]
        choices += [] if preset in choices else [preset]
        aria(solara.Select("Preset", value=preset, values=choices, on_value=choose_preset,
                           classes=["spc-preset"]), "Preset, saved scenario or loaded file")
        solara.Text(stories.get(preset, origin.description), classes=["spc-lever-help"])
        comparators = comparator_names(presets, saved)
        if baseline_name not in comparators:    # a saved comparator listed since
            comparators.append(baseline_name)
        aria(solara.Select("Compare with", value=baseline_name, values=comparators,
                           on_value=set_baseline_name, classes=["spc-baseline"]),
             "Comparator")
        solara.Text("today = today's organisation with its levers unchanged. Same seeds for "
                    "both: differences are paired.", classes=["spc-lever-help"])
        solara.Button("Reset levers to the preset", text=True, icon_name="mdi-restore",
                      on_click=reset,
                      classes=["spc-reset"])
    for group in LEVER_GROUPS:
        with solara.Div(classes=["spc-section"]):
            solara.Text(LEVER_TITLES[group], classes=["spc-section-title"])
            for spec in SPECS.values():
                if spec.group == group:
                    value = getattr(scenario.params, spec.name)
                    LeverSlider(spec.name, value, lambda n, v: change(**{n: v}),
                                changed=value != getattr(origin.params, spec.name))
    with solara.Div(classes=["spc-section"]):
        solara.Text("World and run", classes=["spc-section-title"])
        SizeInput("Employees", scenario.params.n_employees, *LIMITS.bounds("n_employees"),
                  lambda v: change(n_employees=v), "planned frontline staff")
        SizeInput("Customers", scenario.params.n_customers, *LIMITS.bounds("n_customers"),
                  lambda v: change(n_customers=v), "people in the market")
        SizeInput("Weeks", scenario.steps, *LIMITS.bounds("steps"), lambda v: change(steps=v),
                  "horizon")
        SizeInput("Replications", scenario.reps, *LIMITS.bounds("reps"),
                  lambda v: change(reps=v), "paired runs for the 95% intervals")
        SizeInput("Seed", scenario.seed, 0, 2**32 - 1, lambda v: change(seed=v),
                  "replication r uses seed + r")


@solara.component
def SizeInput(label: str, value: int, low: int, high: int, on_value, hint: str = ""):
    """A whole-number input that refuses values outside ``low..high`` with a message.

    ``on_value`` may refuse a value in range too (the page's work limit): it then returns the
    one-line reason, shown under the input.
    """
    error, set_error = solara.use_state("")
    refusals, set_refusals = solara.use_state(0)   # a refused number must not stay displayed

    def accept(v: int | None) -> None:
        if v == value:   # focus left an unchanged field: not an edit, keep any message shown
            return
        if v is None or not low <= v <= high:
            shown = "no value" if v is None else f"{v:,}"
            set_error(f"{label}: {shown} is outside the allowed {low:,}..{high:,}")
            set_refusals(lambda n: n + 1)
            return
        why = on_value(v) or ""
        set_error(why)
        if why:
            set_refusals(lambda n: n + 1)

    with solara.Div(classes=["spc-size"]):
        field = solara.InputInt(label, value=value, on_value=accept, optional=True, dense=True,
                                classes=[f"spc-input-{label.split()[0].lower()}"])
        aria(field.key(f"{label}-{refusals}"), f"{label} ({low:,} to {high:,})")
        if error:
            solara.Text(error, classes=["spc-error"])
        elif hint:
            solara.Text(hint, classes=["spc-lever-help"])


@solara.component
def ConfirmDiscard(pending: str | None, scenario: ServiceScenario, on_close, on_ok):
    """Asks before a picked preset (``pending``) drops the scenario's edited timeline."""
    solara.lab.ConfirmationDialog(
        pending is not None, on_close=on_close,
        title="Discard the timeline?",
        content=(f"Switching to {label(pending or '')} drops this scenario's timeline "
                 f"({len(charts.timeline_rows(scenario))} entries). Undo brings it back."),
        ok="Discard timeline", cancel="Keep editing",
        on_ok=on_ok)
