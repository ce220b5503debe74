"""Compiled kernels give the NumPy code's bits: their functions, formulas and parameters."""

from __future__ import annotations

import os

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import encounters
from sim.compiled import jit
from sim.elementary import exp, log1p, logistic, normal_quantile, power
from sim.params import SPECS, Params


@jit
def _elementary_in_kernel(x, base):
    out = np.empty((5, len(x)))
    for i in range(len(x)):
        out[0, i] = exp(x[i])
        out[1, i] = logistic(x[i])
        out[2, i] = log1p(base[i])
        out[3, i] = power(base[i], x[i])
        out[4, i] = normal_quantile(base[i] / 3.0)
    return out


def _values() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal(0.0, 4.0, 20_000), [0.0, -0.0, 1e-300, -745.2, 709.0, 40.0]])
    base = np.concatenate([rng.random(20_000) * 3.0, [0.0, 1.0, 1e-300, 0.5, 2.0, 1.0 - 1e-16]])
    return x, base


def test_elementary_functions_in_kernels_give_scipys_bits():
    x, base = _values()
    got = _elementary_in_kernel(x, base)
    want = [exp(x), logistic(x), log1p(base), power(base, x), normal_quantile(base / 3.0)]
    for row, expected in zip(got, want, strict=True):
        np.testing.assert_array_equal(row, expected)  # exact, not approximately


@jit
def _formulas_in_kernel(params, loyalty, quality):
    out = np.empty((4, len(loyalty)))
    for i in range(len(loyalty)):
        out[0, i] = encounters.visit_chance(params, loyalty[i])
        out[1, i] = encounters.spend_per_visit(params, loyalty[i])
        out[2, i] = encounters.after_problem(params, quality[i], True)
        out[3, i] = encounters.after_problem(params, quality[i], False)
    return out


@settings(max_examples=25, deadline=None)
@given(visit_rate=st.floats(SPECS["visit_rate"].low, SPECS["visit_rate"].high),
       gain=st.floats(SPECS["visit_loyalty_gain"].low, SPECS["visit_loyalty_gain"].high),
       bonus=st.floats(SPECS["fixed_problem_bonus"].low, SPECS["fixed_problem_bonus"].high))
def test_a_formula_gives_the_same_bits_in_numpy_code_and_in_kernels(visit_rate, gain, bonus):
    params = Params(visit_rate=visit_rate, visit_loyalty_gain=gain, fixed_problem_bonus=bonus)
    rng = np.random.default_rng(5)
    loyalty, quality = rng.random(500), rng.random(500)
    got = _formulas_in_kernel(params.record, loyalty, quality)
    want = [encounters.visit_chance(params, loyalty), encounters.spend_per_visit(params, loyalty),
            encounters.after_problem(params, quality, True),
            encounters.after_problem(params, quality, False)]
    for row, expected in zip(got, want, strict=True):
        np.testing.assert_array_equal(row, expected)
    # and the formula is what it says: loyal customers visit more, capped at certainty
    expected_chance = np.minimum(visit_rate * ((1.0 - 0.5 * gain) + gain * loyalty), 1.0)
    np.testing.assert_array_equal(got[0], expected_chance)


def test_the_record_holds_every_parameter_with_its_value():
    params = Params(training=0.1, induction_weeks=6, churn_base=0.004)
    record = params.record
    assert record.dtype.names == tuple(SPECS)
    for name in SPECS:
        assert record[0][name] == getattr(params, name), name
    assert params.replace(training=0.2).record[0]["training"] == 0.2  # a copy has its own


_COMPILE_STATS = """
import json, numba, sim
from sim import ServiceModel
ServiceModel(rng=0, n_employees=40, n_customers=800).run(2)
kernels = [f for m in list(vars(sim).values()) if hasattr(m, "__dict__")
           for f in vars(m).values() if isinstance(f, numba.core.dispatcher.Dispatcher)]
print(json.dumps({"kernels": len(kernels),
                  "hits": sum(sum(k.stats.cache_hits.values()) for k in kernels),
                  "misses": sum(sum(k.stats.cache_misses.values()) for k in kernels),
                  "folder": kernels[0].stats.cache_path}))
"""


def test_a_process_loads_the_kernels_another_compiled():
    """Kernels are compiled once per version of the code, not in every process."""
    import json
    import subprocess
    import sys

    def compile_stats() -> dict:
        out = subprocess.run([sys.executable, "-c", _COMPILE_STATS], capture_output=True,
                             text=True, check=True, env={**os.environ, "SIM_CACHE_DIR": "off"})
        return json.loads(out.stdout.splitlines()[-1])

    compile_stats()  # compiles what no process compiled yet
    again = compile_stats()
    assert again["kernels"] >= 10 and again["hits"] >= 10 and again["misses"] == 0, again
    assert "kernels-" in again["folder"]  # a folder per version of the code


def test_hazard_formulas_give_numpys_bits_on_arrays():
    """A formula with a transcendental function, called from NumPy code on arrays."""
    from scipy import special

    from sim.customers import churn_chance
    from sim.workforce import MAX_WEEKLY_HAZARD, QUIT_REFERENCE_BURNOUT, quit_chance

    p = Params(pay_level=0.9)
    rng = np.random.default_rng(11)
    engagement, burnout, trust, loyalty = rng.random((4, 2_000))
    log_hazard = (p.quit_w_engagement * (0.5 - engagement)
                  + p.quit_w_burnout * (burnout - QUIT_REFERENCE_BURNOUT)
                  + p.quit_w_trust * (0.5 - trust) - p.quit_w_pay * (p.pay_level - 1.0))
    np.testing.assert_array_equal(
        quit_chance(p, engagement, burnout, trust),
        np.minimum(p.quit_base * (special.expm1(log_hazard) + 1.0), MAX_WEEKLY_HAZARD))
    np.testing.assert_array_equal(
        churn_chance(p, loyalty),
        p.churn_base * (special.expm1(p.churn_w_loyalty * (0.5 - loyalty)) + 1.0))


@settings(max_examples=100, deadline=None)
@given(share=st.floats(0.0, 1.0), planned=st.lists(st.integers(0, 60), min_size=1, max_size=30))
def test_the_staff_plan_in_kernels_is_numpys(share: float, planned: list[int]) -> None:
    """Budgeted headcounts: NumPy's round (half to even) and floor of one, also at the ties."""
    from sim.turnover import budgeted_headcount

    spec = SPECS["staffing_ratio"]
    for ratio in (spec.low + share * (spec.high - spec.low), 0.5, 1.5):
        if not spec.low <= ratio <= spec.high:
            continue
        staff = np.array(planned, dtype=np.float64)
        expected = np.maximum(np.round(staff * ratio), 1).astype(np.int64)
        np.testing.assert_array_equal(budgeted_headcount(Params(staffing_ratio=ratio), staff),
                                      expected)


@settings(max_examples=100, deadline=None)
@given(load=st.lists(st.floats(-1.0, 5.0, allow_subnormal=False), min_size=1, max_size=40))
def test_the_work_pressure_lookup_is_numpys_interp(load: list[float]) -> None:
    """The compiled lookup gives np.interp's bits, at the points, beside them and beyond."""
    points = np.array(encounters.WORKLOAD_POINTS[0])
    edges = np.concatenate([points, np.nextafter(points, 0.0), np.nextafter(points, 9.0)])
    for workload in (np.array(load), edges, np.array(load[:2])):
        np.testing.assert_array_equal(encounters.pressure_factor(workload),
                                      np.interp(workload, *encounters.WORKLOAD_POINTS))


@settings(max_examples=200, deadline=None)
@given(weight=st.floats(0.0, 10.0), base=st.floats(0.0, 0.1))
def test_no_loyalty_within_0_1_has_a_churn_chance_above_the_ceiling(weight: float,
                                                                     base: float) -> None:
    """The churn kernel keeps customers whose draw is above the ceiling without their chance."""
    from sim.customers import churn_ceiling, churn_chance

    p = Params(churn_w_loyalty=weight, churn_base=base)
    loyalty = np.concatenate([np.linspace(0.0, 1.0, 2_001), np.random.default_rng(3).random(999)])
    assert churn_chance(p, loyalty).max() <= churn_ceiling(p)
    assert churn_ceiling(p) <= max(churn_chance(p, 0.0), churn_chance(p, 1.0)) * (1 + 2e-12)


def test_kernels_run_in_halves_give_the_numbers_of_one_pass(monkeypatch):
    """Kernels split over two threads (as at a million customers) give one pass's bits."""
    import copy

    from sim import compiled
    from sim.model import ServiceModel
    from sim.week import run_week

    model = ServiceModel(rng=8, n_employees=60, n_customers=1_500).run(3)

    def week(halves_from: int):
        monkeypatch.setattr(compiled, "HALVES_FROM", halves_from)
        org = copy.deepcopy(model.organisation)
        flows = run_week(org, model.params, model.streams, 4).customers
        return org.market, flows

    (halves, split), (one_pass, whole) = week(0), week(10**12)
    for name in ("loyalty", "loyalty_pull", "satisfaction", "expectation", "status", "tenure"):
        assert np.array_equal(getattr(halves, name), getattr(one_pass, name)), name
    for name in ("churned", "churned_after_bad", "acquired", "referred", "renewed"):
        assert np.array_equal(getattr(split, name), getattr(whole, name)), name  # in slot order
    assert len(whole.churned) and len(whole.acquired)
