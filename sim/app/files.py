"""The Files tab: save to the library, export the scenario, its results and a report, load a file.

A visitor's file is read with the page's limits checked on the raw data first, so a file over
them is refused in one line before anything is built.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Callable

import solara
import yaml

from sim.app import report
from sim.app.components import aria
from sim.app.entries import one_line, seeds_text
from sim.app.limits import LIMITS
from sim.app.state import Comparison
from sim.app.upload import YamlUpload
from sim.params import ParameterError
from sim.scenario import ServiceScenario, parse_scenario


def read_scenario(name: str, text: str | None) -> ServiceScenario:
    """An uploaded file as a ServiceScenario the page may run, or ParameterError with one line.

    The page's limits are checked on the raw data, before anything is built, and again on the
    resolved scenario (a ``base`` preset may bring sizes of its own).
    """
    try:
        LIMITS.check_upload(text)
        assert text is not None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise ParameterError(f"malformed YAML{where}") from None
        except (ValueError, RecursionError) as err:  # a number of over 4300 digits, deep nesting
            why = "nested too deeply" if isinstance(err, RecursionError) else "a number too long"
            raise ParameterError(f"malformed YAML ({why})") from None
        LIMITS.check_data(data)
        return LIMITS.check(parse_scenario(data, source=name))
    except ParameterError as err:
        line = one_line(err)
        raise ParameterError(line if line.startswith(f"{name}:") else f"{name}: {line}") from None


def reps_note(scenario: ServiceScenario, text: str | None) -> str:
    """For a file that does not set ``reps``: which replications it runs."""
    try:
        data = yaml.safe_load(text or "")
    except Exception:  # noqa: BLE001 - already read once; a note is not worth an error
        return ""
    if isinstance(data, dict) and "reps" in data:
        return ""
    n = scenario.reps
    return (f" · the file sets no reps: it runs {n} replication{'s' if n != 1 else ''} "
            f"({seeds_text(scenario.seed, n)}), as `sim run` would; change Replications to run "
            "more")


def file_stem(name: str) -> str:
    """A file name for a display name (``x (modified)`` -> ``x-modified``)."""
    stem = name.replace(" (modified)", "-modified")
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem).strip("._")
    return stem or "scenario"


def report_maker(comparison: Comparison | None, name: str, versus: str, rate: float, query: str,
                 plan_results: list[tuple[str, Comparison]]) -> Callable[[], bytes] | None:
    """What makes the one-page PDF of the comparison on screen (None before there is one).

    Compared plans are in it when they ran against the same comparator; ``rate`` is in %/year,
    ``query`` the link to the view.
    """
    if comparison is None:
        return None

    def make() -> bytes:
        ran = comparison.baseline.scenario
        others = [(n, c) for n, c in plan_results
                  if c.baseline.scenario == ran]   # only plans run against this comparator
        return report.pdf(report.ReportInput(comparison, name, versus, rate / 100, query, others))

    return make


@solara.component
def Files(
    scenario: ServiceScenario,
    shown_name: str,
    comparison: Comparison | None,
    load_file,
    save_as,
    make_report=None,
):
    """Save to the library; export the scenario (``sim run`` re-runs it), results, report."""
    typed, set_typed = solara.use_state("")
    error, set_error = solara.use_state("")
    named = dataclasses.replace(scenario, name=shown_name)
    text = solara.use_memo(named.to_yaml, [named])   # a YAML dump: once per scenario
    stem = file_stem(shown_name)

    def save() -> None:
        set_error(save_as(typed))

    with solara.Div(classes=["spc-panel"]):
        solara.Text("Files", classes=["spc-panel-title"])
        solara.Text("The scenario file holds every parameter, the timeline, the seed and the "
                    "replications: `sim run FILE.yaml` reproduces this page's numbers. Saving "
                    "under a name keeps the scenario in the server's library: it is listed "
                    "beside the presets (also as a comparator and a plan to compare) after a "
                    "reload or a restart. The address bar is a link to this view.",
                    classes=["spc-panel-help"])
        with solara.Row(style={"flex-wrap": "wrap", "gap": "12px", "align-items": "center"}):
            aria(solara.InputText("Save under a name", value=typed, on_value=set_typed,
                                  continuous_update=True, classes=["spc-input-name"],
                                  style={"max-width": "260px"}),
                 "Scenario name (letters, digits, spaces, - and _)")
            solara.Button("Save name", outlined=True, on_click=save, classes=["spc-save-name"],
                          disabled=not typed.strip())
        if error:
            solara.Text(error, classes=["spc-error"])
        with solara.Row(style={"flex-wrap": "wrap", "gap": "12px"}):
            solara.FileDownload(text, filename=f"{stem}.yaml",
                                label="Export scenario YAML", mime_type="text/yaml")
            if comparison is not None:
                solara.FileDownload(lambda: comparison.csv(shown_name),
                                    filename=f"{stem}-results.csv",
                                    label="Export results CSV", mime_type="text/csv")
            if make_report is not None:
                solara.FileDownload(make_report, filename=f"{stem}-report.pdf",
                                    label="Download report (PDF)",
                                    mime_type="application/pdf")
            YamlUpload(load_file)
        solara.HTML(tag="pre", unsafe_innerHTML=html.escape(text),
                    classes=["spc-yaml"])
