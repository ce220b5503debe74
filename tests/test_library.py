"""Saved scenarios, links to a view and the one-page report, without a browser."""

from __future__ import annotations

import os

import pytest
import yaml

from sim.app import link, report, state
from sim.app.cli import server_env
from sim.app.entries import comparator_names, preset_on
from sim.app.library import ENV, Library, check_name, default_folder, listed, resolve
from sim.app.results import TABS
from sim.params import ParameterError
from sim.scenario import ServiceScenario, parse_scenario, preset_names

PLAN = parse_scenario({
    "name": "plan", "base": "employees_first", "steps": 20, "reps": 2, "seed": 4,
    "params": {"n_employees": 40, "n_customers": 400, "training": 0.12},
    "timeline": [{"week": 5, "set": {"resources": 0.9}, "for_weeks": 4},
                 {"week": 8, "ramp": {"recognition": 0.9}, "to_week": 12}]})


@pytest.mark.parametrize("name", ["a", "Q3 plan", "people-first_v2", "x" * 60])
def test_good_names(name):
    assert check_name(f"  {name} ") == name


@pytest.mark.parametrize("name", ["", " ", "../etc/passwd", "a/b", ".hidden", "x" * 61,
                                  "two\nlines", "naïve", "-dash"])
def test_bad_names_are_refused_in_one_line(name):
    with pytest.raises(ParameterError) as err:
        check_name(name)
    message = str(err.value)
    assert "\n" not in message and "allowed 1 to 60 letters" in message


def test_save_round_trips_exactly_and_survives_a_new_library(tmp_path):
    lib = Library(tmp_path / "lib")
    assert lib.names() == []
    saved = lib.save("Q3 plan", PLAN)
    assert saved.name == "Q3 plan"
    again = Library(tmp_path / "lib")             # a restarted server
    assert again.names() == ["Q3 plan"]
    loaded = again.load("Q3 plan")
    assert loaded == saved and loaded.to_yaml() == saved.to_yaml()
    assert yaml.safe_load((tmp_path / "lib" / "Q3 plan.yaml").read_text())["timeline"][1] == \
        {"week": 8, "ramp": {"recognition": 0.9}, "to_week": 12}
    assert resolve(listed("Q3 plan"), again) == saved
    assert resolve("baseline", again).name == "baseline"


def test_a_bad_name_writes_nothing_and_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    lib = Library(tmp_path)
    lib.save("keep", PLAN)
    before = (tmp_path / "keep.yaml").read_bytes()
    with pytest.raises(ParameterError):
        lib.save("bad/name", PLAN)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.yaml"]

    def broken(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(ParameterError, match="cannot save 'keep'.*No space left"):
        lib.save("keep", PLAN.with_changes(training=0.2))
    assert (tmp_path / "keep.yaml").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.yaml"]   # no temp file left


def test_library_folder_default_env_and_cli(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_folder() == tmp_path / "data" / "service-profit-sim" / "library"
    monkeypatch.setenv(ENV, str(tmp_path / "mine"))
    assert default_folder() == tmp_path / "mine"
    assert server_env({}, library=tmp_path / "x")[ENV] == str(tmp_path / "x")
    assert ENV not in server_env({})


def _decode(query: str, saved: list[str] | None = None) -> link.View:
    presets = preset_names()
    return link.decode(query, "invest_in_training", preset_on,
                       comparator_names(presets, saved or []), presets, TABS)


def test_a_link_reproduces_the_view():
    view = _decode("")
    scenario = view.scenario.with_changes(training=0.12, steps=52, seed=9, n_employees=300)
    scenario = parse_scenario({**yaml.safe_load(scenario.to_yaml()), "timeline": [
        {"week": 10, "ramp": {"resources": 0.9}, "to_week": 20}]})
    shown = link.View("invest_in_training", view.origin, scenario, "employees_first",
                      [link.CURRENT, "cost_cutting"], 2, 12.5)
    again = _decode(link.encode(shown))
    assert again.scenario == scenario and not again.notices
    assert (again.comparator, again.plans, again.tab, again.rate) == \
        ("employees_first", [link.CURRENT, "cost_cutting"], 2, 12.5)


@pytest.mark.parametrize("query, key", [
    ("preset=nope", "preset"), ("training=9", "training"), ("training=abc", "training"),
    ("weeks=100000", "weeks"), ("reps=0", "reps"), ("wage_weekly=1", "wage_weekly"),
    ("colour=red", "colour"), ("timeline=[{", "timeline"),
    ("timeline=[{\"week\":500,\"set\":{\"training\":0.1}}]", "timeline"),
    ("vs=nobody", "vs"), ("tab=99", "tab"), ("tab=8", "tab"), ("rate=-3", "rate"),
    ("plans=ghost", "plans"),
])
def test_bad_link_values_fall_back_with_one_line(query, key):
    view = _decode(query)
    assert len(view.notices) == 1
    assert view.notices[0].startswith(f"link: {key}") and "\n" not in view.notices[0]
    assert view.scenario == _decode("").scenario or key in ("vs", "tab", "rate", "plans")


def test_the_report_embeds_its_state_and_reproduces_byte_for_byte():
    engine = state.Engine(workers=1)
    try:
        comparator = state.baseline_for("today", PLAN)
        first = state.compare(PLAN, comparator, engine=engine)
        query = link.encode(link.View("employees_first", preset_on("employees_first"), PLAN,
                                      "today"))
        pdf = report.pdf(report.ReportInput(first, "plan", "today", 0.08, query))
        assert pdf.startswith(b"%PDF") and b"CreationDate" not in pdf
        saved = report.embedded_state(pdf)
        assert saved["link"] == query
        rebuilt: ServiceScenario = parse_scenario(yaml.safe_load(saved["scenario"]))
        assert rebuilt == PLAN
        fresh = state.Engine(workers=1)       # nothing cached: the numbers are made again
        try:
            second = state.compare(rebuilt, state.baseline_for("today", rebuilt), engine=fresh)
        finally:
            fresh.shutdown()
        again = report.pdf(report.ReportInput(second, "plan", "today", 0.08, saved["link"]))
        assert again == pdf
    finally:
        engine.shutdown()
    with pytest.raises(ValueError, match="no embedded state"):
        report.embedded_state(b"%PDF-1.4 nothing")


def test_changed_levers_name_the_differences():
    class Fake:
        def __init__(self, scenario: ServiceScenario) -> None:
            self.scenario = scenario

    class Pair:
        scenario = Fake(PLAN)
        baseline = Fake(state.baseline_for("today", PLAN))

    rows = {r[0]: r[1:] for r in report.changed_levers(Pair())}   # type: ignore[arg-type]
    assert rows["Training"] == ("0.12 share of paid time", "0.05 share of paid time")
    assert "N employees" not in rows
