"""Probe: would a fused, compiled kernel beat NumPy for the weekly step? (issue: speed)

Takes the tail of one weekly mechanism, the staff's state updates in
:func:`sim.workforce.update` (learning, engagement with peer contagion, mood, burnout, trust,
alignment, autonomy, then the clip to [0, 1]: about 40 NumPy calls over the staff), and times
it as NumPy runs it today against the same arithmetic in one Numba loop, on the inputs of a real
week of the default organisation (about 250 position slots) and of a large one (10,000 staff).
It checks that both give the same bits (same operations in the same order, no fast-math), and
times Numba's compilation and its on-disk cache. Needs ``pip install numba`` (not a dependency
of the project: this only measures).

    python experiments/speed/fused_probe.py
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

from sim import ServiceModel, workforce

FIELDS = ("skill", "engagement", "mood", "burnout", "trust", "alignment", "autonomy")


def week_inputs(n_employees: int, n_customers: int) -> tuple[dict, dict, object]:
    """The state and the targets of :func:`sim.workforce.update` in week 5 of a run."""
    model = ServiceModel(rng=3, n_employees=n_employees, n_customers=n_customers)
    model.run(4)
    p, wf, units = model.params, model.workforce, model.units
    lead = model.leadership
    team = model.organisation.team_size()
    inducting = wf.filled & (wf.tenure < p.induction_weeks)
    mentoring = workforce.mentoring_received(p, lead, team)
    peer_eng, has_peers = workforce.peer_mean(model.peers, wf.engagement, wf.filled)
    peer_mood, _ = workforce.peer_mean(model.peers, wf.mood, wf.filled)
    inputs = {
        "eng_star": workforce.engagement_target(p, wf, lead, units, mentoring),
        "burn_star": workforce.burnout_target(p, wf, lead, units.workload),
        "trust_star": workforce.trust_target(p, lead)[wf.unit],
        "align_star": workforce.alignment_target(p, lead, wf.fit, wf.unit),
        "auto_star": workforce.autonomy_target(p, lead)[wf.unit],
        "mood_star": workforce.mood_target(wf),
        "peer_eng": peer_eng, "peer_mood": peer_mood, "has_peers": has_peers,
        "mentoring": mentoring[wf.unit], "inducting": inducting.astype(np.float64),
    }
    state = {name: getattr(wf, name).copy() for name in FIELDS}
    return state, inputs, p


def numpy_tail(s: dict, x: dict, p) -> None:
    """The arithmetic of the update's tail, as :func:`sim.workforce.update` writes it."""
    learning = (p.learn_experience + p.learn_training * p.training
                + p.learn_mentoring * x["mentoring"] + p.learn_induction * x["inducting"])
    learning = (learning * (p.learning_engagement_base + s["engagement"])
                * (1.0 - p.learning_burnout_loss * s["burnout"]))
    s["skill"] += learning * (1.0 - s["skill"]) - p.skill_decay * s["skill"]
    contagion = np.where(x["has_peers"], p.engagement_contagion, 0.0)
    s["engagement"] += (x["eng_star"] - s["engagement"]) / p.engagement_weeks + contagion * (
        x["peer_eng"] - s["engagement"])
    mood = p.mood_persistence * s["mood"] + (1.0 - p.mood_persistence) * x["mood_star"]
    pull = np.where(x["has_peers"], p.mood_contagion, 0.0)
    s["mood"][:] = mood + pull * (x["peer_mood"] - mood)
    s["burnout"] += (x["burn_star"] - s["burnout"]) / p.burnout_weeks
    s["trust"] += (x["trust_star"] - s["trust"]) / p.trust_weeks
    s["alignment"] += (x["align_star"] - s["alignment"]) / p.engagement_weeks
    s["autonomy"] += (x["auto_star"] - s["autonomy"]) / p.trust_weeks
    for name in FIELDS:
        np.clip(s[name], 0.0, 1.0, out=s[name])


def fused_kernel():
    """The same arithmetic as one loop over the staff (compiled on first call, cached on disk)."""
    from numba import njit

    @njit(cache=True)
    def kernel(skill, eng, mood, burn, trust, align, auto, eng_star, burn_star, trust_star,
               align_star, auto_star, mood_star, peer_eng, peer_mood, has_peers, mentoring,
               inducting, c):
        for i in range(skill.shape[0]):
            learning = c[0] + c[1] * c[2] + c[3] * mentoring[i] + c[4] * inducting[i]
            learning = learning * (c[5] + eng[i]) * (1.0 - c[6] * burn[i])
            skill[i] += learning * (1.0 - skill[i]) - c[7] * skill[i]
            contagion = c[8] if has_peers[i] else 0.0
            eng[i] += (eng_star[i] - eng[i]) / c[9] + contagion * (peer_eng[i] - eng[i])
            m = c[10] * mood[i] + (1.0 - c[10]) * mood_star[i]
            pull = c[11] if has_peers[i] else 0.0
            mood[i] = m + pull * (peer_mood[i] - m)
            burn[i] += (burn_star[i] - burn[i]) / c[12]
            trust[i] += (trust_star[i] - trust[i]) / c[13]
            align[i] += (align_star[i] - align[i]) / c[9]
            auto[i] += (auto_star[i] - auto[i]) / c[13]
            for a in (skill, eng, mood, burn, trust, align, auto):
                a[i] = min(max(a[i], 0.0), 1.0)

    return kernel


def constants(p) -> np.ndarray:
    return np.array([p.learn_experience, p.learn_training, p.training, p.learn_mentoring,
                     p.learn_induction, p.learning_engagement_base, p.learning_burnout_loss,
                     p.skill_decay, p.engagement_contagion, p.engagement_weeks,
                     p.mood_persistence, p.mood_contagion, p.burnout_weeks, p.trust_weeks])


def run_fused(kernel, s: dict, x: dict, c: np.ndarray) -> None:
    kernel(*(s[f] for f in FIELDS), x["eng_star"], x["burn_star"], x["trust_star"],
           x["align_star"], x["auto_star"], x["mood_star"], x["peer_eng"], x["peer_mood"],
           x["has_peers"], x["mentoring"], x["inducting"], c)


def median_time(fn, repeats: int = 2000) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--compile-only":
        state, inputs, p = week_inputs(220, 5400)
        t0 = time.perf_counter()
        run_fused(fused_kernel(), state, inputs, constants(p))
        print(f"{time.perf_counter() - t0:.3f}")
        return
    state, inputs, p = week_inputs(220, 5400)
    t0 = time.perf_counter()
    kernel = fused_kernel()
    run_fused(kernel, {k: v.copy() for k, v in state.items()}, inputs, constants(p))
    first = time.perf_counter() - t0
    again = subprocess.run([sys.executable, __file__, "--compile-only"], capture_output=True,
                           text=True, check=True).stdout.strip()
    print(f"first call in this process (import, then compile or load from the cache): "
          f"{first:.2f} s; in a new process with the cache filled: {again} s")
    for label, size in (("default", (220, 5400)), ("large staff", (10_000, 20_000))):
        compare(label, size, kernel)


def compare(label: str, size: tuple[int, int], kernel) -> None:
    """Same bits, and the median time of each version, on one week's inputs."""
    state, inputs, p = week_inputs(*size)
    c = constants(p)
    a = {k: v.copy() for k, v in state.items()}
    b = {k: v.copy() for k, v in state.items()}
    numpy_tail(a, inputs, p)
    run_fused(kernel, b, inputs, c)
    same = all(np.array_equal(a[f].view(np.uint64), b[f].view(np.uint64)) for f in FIELDS)
    t_np = median_time(lambda: numpy_tail({k: v.copy() for k, v in state.items()}, inputs, p))
    t_nb = median_time(lambda: run_fused(kernel, {k: v.copy() for k, v in state.items()},
                                         inputs, c))
    print(f"{label}: {len(state['skill'])} slots; NumPy {t_np * 1e6:.1f} us, fused "
          f"{t_nb * 1e6:.1f} us ({t_np / t_nb:.1f}x; both include copying the 7 state "
          f"arrays); same bits: {same}")

if __name__ == "__main__":
    main()
