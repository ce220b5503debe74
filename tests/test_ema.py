"""The EMA Workbench adapter: roles from the specs, a run on the sequential evaluator, sweeps."""

from __future__ import annotations

import numpy as np
import pytest

from sim import ema
from sim.model import ServiceModel
from sim.params import LEVER_GROUPS, LEVERS, SPECS, ParameterError
from sim.sweep_design import parse_experiment

TINY = {"n_employees": 30, "n_customers": 500}


def test_roles_come_from_the_groups():
    roles = {spec.role for spec in SPECS.values()}
    assert roles == {"lever", "uncertainty", "size", "measurement"}
    for spec in SPECS.values():
        expected = ("lever" if spec.group in LEVER_GROUPS
                    else spec.group if spec.group in ("size", "measurement") else "uncertainty")
        assert spec.role == expected
    assert set(ema.ranges("lever")) == set(LEVERS)  # the levers that act from week 1
    uncertain = ema.ranges("uncertainty")
    assert set(uncertain) == {n for n, s in SPECS.items() if s.role == "uncertainty"}
    assert uncertain["loyalty_weeks"] == (SPECS["loyalty_weeks"].low, SPECS["loyalty_weeks"].high)


@pytest.mark.parametrize("role, chosen, message", [
    ("uncertainty", ["training"], "a lever"),
    ("lever", ["loyalty_weeks"], "uncertainty"),
    ("lever", ["span_of_control"], "structural"),
    ("uncertainty", {"loyalty_weeks": (0.0, 50.0)}, "out of range"),
    ("uncertainty", {"loyalty_weeks": (30.0, 20.0)}, "must be below"),
    ("uncertainty", ["loyalty_weeekz"], "did you mean loyalty_weeks"),
])
def test_bad_selections_are_refused_in_one_line(role, chosen, message):
    with pytest.raises(ParameterError) as err:
        ema.ranges(role, chosen)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_npv_discounts_weekly_on_an_annual_rate():
    assert ema.npv([100.0] * 52, 0.0) == pytest.approx(5200.0)
    assert ema.npv([0.0] * 51 + [108.0], 0.08) == pytest.approx(100.0)
    with pytest.raises(ParameterError):
        ema.check_rate(float("nan"))


@pytest.mark.filterwarnings("ignore:ipyparallel not installed")
def test_runs_on_the_sequential_evaluator_with_paired_replications():
    from ema_workbench import SequentialEvaluator

    model = ema.build_model(
        uncertainties={"loyalty_weeks": (10.0, 40.0), "skill_decay": (0.0, 0.03)},
        levers={"training": (0.0, 0.2), "induction_weeks": (0, 8)},
        fixed=TINY, steps=10, replications=2, seed=3, discount_rate=0.1,
        timeseries=["profit"], directions={"npv": "maximize"},
    )
    assert [p.name for p in model.uncertainties] == ["loyalty_weeks", "skill_decay"]
    assert [p.name for p in model.levers] == ["training", "induction_weeks"]
    with SequentialEvaluator(model) as evaluator:
        experiments, outcomes = evaluator.perform_experiments(scenarios=2, policies=2)
    assert len(experiments) == 4
    for name in (*ema.DEFAULT_OUTCOMES, "profit_weekly"):
        assert name in outcomes
    assert outcomes["npv"].shape == (4,)
    assert outcomes["profit_weekly"].shape == (4, 11)  # weeks 0..10, mean of 2 replications

    # an experiment is the mean of replications with seeds seed + r, as `sim run` would run it
    row = experiments.iloc[3]
    values = {"loyalty_weeks": float(row["loyalty_weeks"]),
              "skill_decay": float(row["skill_decay"]), "training": float(row["training"]),
              "induction_weeks": int(row["induction_weeks"])}
    direct = []
    for seed in (3, 4):
        series = ServiceModel(rng=seed, steps=10, **TINY, **values).run().timeseries()
        direct.append(ema.outcomes_of(series, 10, 0.1))
    for name in ("npv", "cum_profit_final", "engagement_mean", "people_spend"):
        assert outcomes[name][3] == pytest.approx(np.mean([d[name] for d in direct]), rel=1e-12)
    assert outcomes["cum_profit_final"][3] == pytest.approx(
        np.mean([d["cum_profit_final"] for d in direct]))


def test_experiment_data_is_a_valid_sweep_of_the_same_ranges():
    data = ema.experiment_data(
        name="from_ema", samples=8, uncertainties={"loyalty_weeks": (10.0, 40.0)},
        levers=["training"], fixed=TINY, steps=10, replications=2, seed=9,
    )
    experiment = parse_experiment(data)
    assert experiment.method == "lhs" and experiment.paired
    assert experiment.parameters == {"loyalty_weeks": (10.0, 40.0),
                                     "training": (SPECS["training"].low, SPECS["training"].high)}
