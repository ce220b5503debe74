"""Batched replications (sim.batch): a member's results are bit-identical to its run alone."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from sim import ServiceModel, batch
from sim.batch import Batch, run_together
from sim.runner import cached_frames, run_one, run_scenario
from sim.scenario import ServiceScenario, load_scenario


def assert_identical(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Same columns, dtypes and bits (NaN where NaN; -0.0 is not 0.0)."""
    assert list(a.columns) == list(b.columns)
    assert a.dtypes.equals(b.dtypes)
    assert a.index.equals(b.index)
    for name in a.columns:
        x, y = a[name].to_numpy(), b[name].to_numpy()
        if x.dtype.kind == "f":
            x, y = x.view(np.int64), y.view(np.int64)
        assert np.array_equal(x, y), name


def frames(model: ServiceModel) -> tuple[pd.DataFrame, pd.DataFrame]:
    return model.timeseries(), model.unit_timeseries()


def assert_same_runs(alone: list[ServiceModel], together: list[ServiceModel]) -> None:
    assert len(alone) == len(together)
    for solo, member in zip(alone, together, strict=True):
        for x, y in zip(frames(solo), frames(member), strict=True):
            assert_identical(x, y)


def test_a_batch_of_three_default_runs_matches_three_runs_alone():
    seeds = (5, 6, 7)
    alone = [ServiceModel(rng=s, replication=r).run() for r, s in enumerate(seeds)]
    together = list(run_together(ServiceModel(rng=s, replication=r)
                                 for r, s in enumerate(seeds)))
    assert_same_runs(alone, together)
    # the members are ordinary models again, with their own state in their own numbering
    for solo, member in zip(alone, together, strict=True):
        assert member.batch is None
        np.testing.assert_array_equal(solo.market.last_employee, member.market.last_employee)
        np.testing.assert_array_equal(solo.workforce.engagement, member.workforce.engagement)


def test_a_members_weeks_are_its_weeks_alone(monkeypatch):
    """Every record of a member's week (visits, flows, ledger, sums...) is its run's alone."""
    weeks: dict[int, list] = {}
    observe = ServiceModel._observe

    def record(model, week):
        weeks.setdefault(id(model), []).append(week)
        observe(model, week)

    monkeypatch.setattr(ServiceModel, "_observe", record)
    seeds, size = (3, 4, 5), {"n_employees": 60, "n_customers": 1500}
    alone = [ServiceModel(rng=s, **size).run(8) for s in seeds]
    together = list(run_together((ServiceModel(rng=s, **size) for s in seeds), steps=8))

    def arrays(week) -> dict[str, np.ndarray]:
        parts = {"": week}
        parts.update({name: getattr(week, name) for name in
                      ("leadership", "encounters", "customers", "staff", "ledger")})
        return {f"{part}.{f.name}": np.asarray(getattr(record, f.name))
                for part, record in parts.items() for f in dataclasses.fields(record)
                if not dataclasses.is_dataclass(getattr(record, f.name))}

    for solo, member in zip(alone, together, strict=True):
        assert len(weeks[id(solo)]) == len(weeks[id(member)]) == 9  # week 0, then 8
        for mine, its in zip(weeks[id(solo)], weeks[id(member)], strict=True):
            for name, values in arrays(mine).items():
                np.testing.assert_array_equal(values, arrays(its)[name], err_msg=name)
    assert any(len(w.customers.churned) and len(w.staff.quits) for w in weeks[id(together[0])])


def test_a_member_goes_on_alone_after_its_batch_as_if_never_batched():
    alone = [ServiceModel(rng=s).run(30) for s in (8, 9)]
    members = Batch([ServiceModel(rng=s) for s in (8, 9)]).run(12)
    together = [m.run(18) for m in members]
    assert_same_runs(alone, together)


def test_two_scenarios_batched_by_their_levers_match_their_runs_alone(monkeypatch):
    """Mixed runs: consecutive runs with the same levers share a batch; each matches alone."""
    runs = [("baseline", 3), ("baseline", 4), ("employees_first", 3), ("employees_first", 4)]
    batches = []
    monkeypatch.setattr(batch, "Batch", lambda members: batches.append(len(members))
                        or Batch(members))
    alone = [ServiceModel(name, rng=seed).run(40) for name, seed in runs]
    together = list(run_together((ServiceModel(name, rng=seed) for name, seed in runs), 40))
    assert batches == [2, 2]
    assert_same_runs(alone, together)


def test_a_timeline_changes_every_member_as_it_changes_a_run_alone():
    scenario = load_scenario("training_cut_and_restore")
    assert scenario.timeline
    alone = [ServiceModel(scenario, rng=s).run() for s in (1, 2)]
    together = list(run_together(ServiceModel(scenario, rng=s) for s in (1, 2)))
    assert_same_runs(alone, together)


@pytest.mark.parametrize("name, changes", [
    ("lean_staffing", {}),
    ("customer_obsession", {}),
    ("hire_for_fit", {"n_employees": 110, "n_customers": 2000}),
])
def test_presets_and_sizes_batch_bit_identically(name, changes):
    scenario = load_scenario(name).with_changes(steps=30, **changes)
    alone = [ServiceModel(scenario, rng=s).run() for s in (21, 22, 23)]
    together = list(run_together(ServiceModel(scenario, rng=s) for s in (21, 22, 23)))
    assert_same_runs(alone, together)


def test_a_settled_start_batches_bit_identically():
    scenario = ServiceScenario(name="settled_training", start="settled", steps=20,
                               params=load_scenario("baseline").params.replace(training=0.1))
    alone = [ServiceModel(scenario, rng=s).run() for s in (31, 32)]
    together = list(run_together(ServiceModel(scenario, rng=s) for s in (31, 32)))
    assert_same_runs(alone, together)


def test_runs_with_other_levers_are_refused_by_one_batch():
    with pytest.raises(ValueError, match="same parameters"):
        Batch([ServiceModel(rng=1), ServiceModel(rng=1, training=0.2)])


def test_a_batch_holds_what_fits_and_a_run_too_large_to_share_runs_before_the_next_is_made(
        monkeypatch):
    made, batches = [], []
    monkeypatch.setattr(batch, "Batch", lambda members: batches.append(len(members))
                        or Batch(members))

    def models():
        for s in (1, 2, 3):
            made.append(s)
            yield ServiceModel(rng=s)

    size = ServiceModel(rng=1).market.n + ServiceModel(rng=1).workforce.n
    monkeypatch.setattr(batch, "BATCH_SLOTS", 2 * size + 10)  # two fit, not three
    assert len(list(run_together(models(), 3))) == 3
    assert batches == [2]
    monkeypatch.setattr(batch, "BATCH_SLOTS", 1)  # every run alone, each done before the next
    made.clear()
    for done in run_together(models(), 3):
        assert made[-1] == done.scenario.rng
    assert batches == [2]


def test_run_scenario_batches_replications_and_caches_each_as_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("SIM_CACHE_DIR", str(tmp_path))
    scenario = load_scenario("baseline").with_changes(reps=3, seed=40, steps=26)
    fresh = run_scenario(scenario)
    again = run_scenario(scenario)  # every replication from the run cache
    assert_identical(fresh.timeseries, again.timeseries)
    assert_identical(fresh.units, again.units)
    for r in range(3):
        kept = cached_frames(scenario, r, 40 + r)
        solo = run_one(scenario, r)
        assert kept is not None
        for x, y in zip(kept, frames(solo), strict=True):
            assert_identical(x, y)


def test_starts_settled_together_are_the_starts_settled_alone(tmp_path, monkeypatch):
    """Seeds of one world settle as one batch; each start has the bits it has alone."""
    import pickle

    from sim import start
    from sim.params import Params

    monkeypatch.setenv("SIM_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(start, "_memory", type(start._memory)())
    params = Params(n_employees=60, n_customers=1500)
    seeds = (21, 22, 23)
    alone = {seed: start.settle(params, seed) for seed in seeds}
    assert not any(start.is_kept(params, seed) for seed in seeds)
    batch.settle_starts(params, seeds)
    for seed in seeds:
        assert start.is_kept(params, seed)
        kept = start.kept(params, seed)
        for part in ("units", "workforce", "market"):
            assert (pickle.dumps(getattr(kept.organisation, part))
                    == pickle.dumps(getattr(alone[seed].organisation, part))), (seed, part)
        assert pickle.dumps(kept.week0) == pickle.dumps(alone[seed].week0), seed
