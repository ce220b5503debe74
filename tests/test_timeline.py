"""Timeline shortcuts: "set X to V for N weeks, then restore" and linear ramps.

They expand into the weekly settings the model reads; files with plain settings read as before.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from sim.model import ServiceModel
from sim.params import ParameterError
from sim.scenario import Intervention, ServiceScenario, load_scenario, parse_scenario

TEXT = """
name: shortcuts
steps: 30
params: {training: 0.1, recognition: 0.5, induction_weeks: 2}
timeline:
  - week: 5
    set: {training: 0.2}
    for_weeks: 3
  - week: 10
    ramp: {recognition: 0.9, induction_weeks: 6}
    to_week: 14
"""


def weekly(scenario: ServiceScenario) -> list[tuple[int, dict]]:
    return [(e.week, dict(e.changes)) for e in scenario.timeline]


def test_for_weeks_and_ramp_expand_into_weekly_settings():
    s = parse_scenario(yaml.safe_load(TEXT))
    assert weekly(s) == [
        (5, {"training": 0.2}), (8, {"training": 0.1}),
        (10, {"recognition": 0.5, "induction_weeks": 2}),
        (11, {"recognition": 0.6, "induction_weeks": 3}),
        (12, {"recognition": 0.7, "induction_weeks": 4}),
        (13, {"recognition": pytest.approx(0.8), "induction_weeks": 5}),
        (14, {"recognition": 0.9, "induction_weeks": 6}),
    ]
    assert all(isinstance(c["induction_weeks"], int) for w, c in weekly(s) if w >= 10)


def test_compact_entries_round_trip_exactly_and_are_written_compactly():
    s = parse_scenario(yaml.safe_load(TEXT))
    data = yaml.safe_load(s.to_yaml())
    assert data["timeline"] == [
        {"week": 5, "set": {"training": 0.2}, "for_weeks": 3},
        {"week": 10, "ramp": {"recognition": 0.9, "induction_weeks": 6}, "to_week": 14},
    ]
    again = parse_scenario(data)
    assert again == s and again.to_yaml() == s.to_yaml()


def test_restored_and_ramp_start_values_follow_edited_levers():
    s = parse_scenario(yaml.safe_load(TEXT)).with_changes(training=0.05, recognition=0.1)
    assert (8, {"training": 0.05}) in weekly(s)
    assert weekly(s)[2] == (10, {"recognition": 0.1, "induction_weeks": 2})


def test_restore_takes_earlier_settings_into_account():
    s = parse_scenario({"steps": 20, "params": {"training": 0.1}, "timeline": [
        {"week": 2, "set": {"training": 0.15}},
        {"week": 6, "set": {"training": 0.0}, "for_weeks": 4}]})
    assert weekly(s) == [(2, {"training": 0.15}), (6, {"training": 0.0}),
                         (10, {"training": 0.15})]


def test_settings_beyond_the_horizon_are_dropped():
    s = parse_scenario({"steps": 12, "timeline": [
        {"week": 10, "set": {"training": 0.2}, "for_weeks": 8},
        {"week": 11, "ramp": {"resources": 1.0}, "to_week": 20}]})
    assert [w for w, _ in weekly(s)] == [10, 11, 12]
    longer = s.with_changes(steps=30)
    assert [w for w, _ in weekly(longer)] == [10, 11, 12, 13, 14, 15, 16, 17, 18, 18, 19, 20]


def test_plain_timelines_read_exactly_as_before():
    s = load_scenario("training_cut_and_restore")
    assert s.timeline == (Intervention(52, {"training": 0.05, "resources": 0.6}),)
    assert yaml.safe_load(s.to_yaml())["timeline"] == [
        {"week": 52, "set": {"training": 0.05, "resources": 0.6}}]


def test_a_shortcut_runs_exactly_as_its_weekly_settings():
    compact = parse_scenario({"steps": 14, "params": {"n_employees": 30, "n_customers": 300},
                              "timeline": [{"week": 3, "set": {"training": 0.2},
                                            "for_weeks": 4},
                                           {"week": 5, "ramp": {"resources": 0.9},
                                            "to_week": 9}]})
    plain = ServiceScenario(params=compact.params, steps=14,
                     timeline=tuple(Intervention(e.week, dict(e.changes))
                                    for e in compact.timeline))
    a = ServiceModel(compact, rng=2).run().timeseries()
    b = ServiceModel(plain, rng=2).run().timeseries()
    np.testing.assert_array_equal(a["profit"].to_numpy(), b["profit"].to_numpy())


@pytest.mark.parametrize("entry, words", [
    ({"week": 5, "set": {"span_of_control": 8}}, "it is structural"),
    ({"week": 5, "set": {"training": 0.1}, "for_weeks": 0}, "for_weeks=0 is out of range"),
    ({"week": 5, "ramp": {"training": 0.1}, "to_week": 5}, "to_week=5 is out of range"),
    ({"week": 5, "ramp": {"training": 0.1}}, "needs exactly 'week' and 'set'"),
    ({"week": 5, "ramp": {"training": 9}, "to_week": 8}, "training=9 is out of range"),
    ({"week": 50, "ramp": {"training": 0.1}, "to_week": 60}, "outside the horizon 1..20"),
])
def test_bad_entries_are_refused_in_one_line(entry, words):
    with pytest.raises(ParameterError) as err:
        parse_scenario({"steps": 20, "timeline": [entry]})
    assert words in str(err.value) and "\n" not in str(err.value)
