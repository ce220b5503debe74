"""Every parameter of the model, in one typed place.

Each field of :class:`Params` carries its default, allowed range, unit, group, a one-line meaning
and its source (a seed text, cited by number as listed in ``docs/ODD.md``, or a published
study). The page's sliders, the CLI's ``sim params`` table and the sweep's bounds are all
generated from this one schema, so they cannot drift apart.

Groups:
    people, leadership, hr, customers, organisation: policy levers a strategist controls; they may
        change during a run through a scenario's timeline.
    size: how big the organisation and its market are; fixed when the model is built.
    behaviour, market, finance: coefficients of the mechanisms (calibrated, not levers).
    measurement: how the company's surveys observe the organisation (they do not change it).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

LEVER_GROUPS = ("people", "leadership", "hr", "customers", "organisation")
GROUPS = (*LEVER_GROUPS, "size", "behaviour", "market", "finance", "measurement")


class ParameterError(ValueError):
    """A parameter name, type or value that the model refuses (one line, names the key)."""


@dataclass(frozen=True)
class ParamSpec:
    """Metadata of one parameter: what it means and what values are allowed."""

    name: str
    default: float | int
    low: float | int
    high: float | int
    unit: str
    group: str
    meaning: str
    source: str
    kind: type
    structural: bool

    @property
    def is_lever(self) -> bool:
        """Whether strategists set it (and a timeline may change it mid-run)."""
        return self.group in LEVER_GROUPS

    @property
    def role(self) -> str:
        """What the parameter is in a policy analysis: ``lever``, ``uncertainty`` or ``size``.

        The one place that says which parameters a decision maker controls and which describe a
        world they must live with (used by :mod:`sim.ema`, ``sim optimise`` and the docs):

        * ``lever``: a company's decision (groups people, leadership, hr, customers,
          organisation); searched over by policy optimisation, the levers of an EMA model.
        * ``uncertainty``: the world the company cannot set (groups behaviour, market, finance:
          behaviour coefficients, customers' responses, prices and costs); the uncertainties of
          an EMA model, the space scenario discovery searches for vulnerable worlds.
        * ``size``: how big the organisation and its market are (group size); held fixed by a
          study, neither decided nor uncertain in the sense above.
        * ``measurement``: how the company's surveys observe the organisation (group
          measurement); they change what is reported, not what happens.
        """
        if self.group in LEVER_GROUPS:
            return "lever"
        if self.group in ("size", "measurement"):
            return self.group
        return "uncertainty"

    def check(self, value: Any) -> float | int:
        """Return ``value`` converted to this parameter's type, or raise ParameterError.

        Refused, each with one line naming the parameter and its range: anything but an int or a
        float (text, booleans, lists, mappings), NaN and infinities, fractions for whole-number
        parameters, and values outside ``low..high`` (however large: no float overflow).
        """
        allowed = f"(allowed range {self.low}..{self.high} {self.unit})"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(f"{self.name}: expected a number, got {shown(value)} {allowed}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ParameterError(
                f"{self.name}: expected a finite number, got {value!r} {allowed}"
            )
        if self.kind is int and isinstance(value, float) and not value.is_integer():
            raise ParameterError(f"{self.name}: expected a whole number, got {value!r} {allowed}")
        if not self.low <= value <= self.high:  # int/float comparison is exact, never overflows
            raise ParameterError(
                f"{self.name}={shown(value)} is out of range: "
                f"allowed {self.low}..{self.high} {self.unit}"
            )
        return int(value) if self.kind is int else float(value)


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for one-line messages about any input."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to print (over sys.get_int_max_str_digits())
        text = f"<a number of about {value.bit_length() * 0.30103:.0f} digits>"
    except RecursionError:
        text = f"<a {type(value).__name__} nested too deeply>"
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _p(
    default: float | int,
    low: float | int,
    high: float | int,
    unit: str,
    group: str,
    meaning: str,
    source: str,
    *,
    structural: bool = False,
) -> Any:
    meta = dict(
        low=low,
        high=high,
        unit=unit,
        group=group,
        meaning=meaning,
        source=source,
        structural=structural,
    )
    return field(default=default, metadata=meta)


# fmt: off
@dataclass(frozen=True)
class Params:
    """All parameters of one run. Build with keyword overrides; every value is range-checked."""

    # --- people: what the organisation invests in its frontline staff -------------------------
    training: float = _p(0.05, 0.0, 0.25, "share of paid time", "people",
                         "Ongoing training time: builds skill, costs money and time on the floor",
                         "seeds 000, 002, 003, 004")
    induction_weeks: int = _p(4, 0, 16, "weeks", "people",
                              "Induction training of new hires: faster learning, half capacity",
                              "seed 003 (induction); Schlesinger & Heskett 1991")
    resources: float = _p(0.6, 0.0, 1.0, "index 0-1", "people",
                          "Adequacy of tools, systems and budget to do the job well",
                          "seeds 000, 002; JD-R (Crawford et al. 2010)")
    recognition: float = _p(0.4, 0.0, 1.0, "index 0-1", "people",
                            "How often good work is noticed and praised by managers",
                            "seed 002")
    rewards: float = _p(0.2, 0.0, 1.0, "share of max bonus", "people",
                        "Bonus tied to the unit's customer satisfaction (max bonus_max of wage)",
                        "seed 002 (share success with the front line)")
    pay_level: float = _p(1.0, 0.7, 1.5, "x market wage", "people",
                          "Pay relative to the local market wage: costs, and lowers quitting",
                          "turnover research (Boushey & Glynn 2012)")
    # --- leadership: how unit managers lead --------------------------------------------------
    manager_fairness: float = _p(0.6, 0.0, 1.0, "index 0-1", "leadership",
                                 "Managers' impartiality (selection and development of managers)",
                                 "seed 000 (immediate managers); Gallup 2015")
    micromanagement: float = _p(0.4, 0.0, 1.0, "index 0-1", "leadership",
                                "Managers' control over how work is done (less autonomy)",
                                "seed 004")
    mentoring: float = _p(0.5, 0.0, 1.0, "index 0-1", "leadership",
                          "One-to-one mentoring time managers give; diluted by wide spans",
                          "seed 002")
    vision_communication: float = _p(0.5, 0.0, 1.0, "index 0-1", "leadership",
                                     "How well managers explain why the work matters (the vision)",
                                     "seeds 000, 001, 002, 004")
    empowerment: float = _p(0.5, 0.0, 1.0, "index 0-1", "leadership",
                            "Authority of frontline staff to fix a customer's problem on the spot",
                            "seed 004")
    # --- hr: hiring and listening --------------------------------------------------------------
    hiring_selectivity: float = _p(0.5, 0.0, 1.0, "index 0-1", "hr",
                                   "Choosiness in hiring: better fit and skill, slower and dearer",
                                   "seeds 000, 003")
    surveys_acted_upon: float = _p(0.3, 0.0, 1.0, "share acted upon", "hr",
                                   "Share of employee-survey feedback that leads to visible action",
                                   "seed 002")
    voice_climate: float = _p(0.5, 0.0, 1.0, "index 0-1", "hr",
                              "Whether staff speak up with ideas without fear (no groupthink)",
                              "seed 004")
    # --- customers: where the organisation looks -----------------------------------------------
    customer_focus: float = _p(0.7, 0.0, 1.0, "0 internal - 1 external", "customers",
                               "External customer focus versus attention to internal matters",
                               "seed 001 (internal focus under-performs by >20%)")
    # --- organisation: structure and staffing --------------------------------------------------
    staffing_ratio: float = _p(1.0, 0.5, 1.5, "x planned headcount", "organisation",
                               "Budgeted frontline positions relative to the demand-based plan",
                               "Oliva & Sterman 2001 (work pressure)")
    span_of_control: int = _p(11, 3, 40, "staff per manager", "organisation",
                              "Frontline staff per unit manager (sets the number of units)",
                              "seed 002 (one-to-one attention)", structural=True)
    # --- size -----------------------------------------------------------------------------------
    n_employees: int = _p(220, 1, 1_000_000, "people", "size",
                          "Planned frontline employees at staffing ratio 1", "design default",
                          structural=True)
    n_customers: int = _p(5400, 10, 10_000_000, "people", "size",
                          "People in the market: customers and prospects",
                          "design default: about 2,850 active customers for 220 staff (units "
                          "staffed for their demand with some slack), level-set by the "
                          "organisation fit", structural=True)
    initial_active_share: float = _p(0.53, 0.05, 1.0, "share", "size",
                                     "Share of the market that are customers at the start",
                                     "steady state of the settled baseline (first guess of the "
                                     "build; the settle moves it)", structural=True)
    # --- behaviour: employees -------------------------------------------------------------------
    engagement_weeks: float = _p(12.0, 1.0, 104.0, "weeks", "behaviour",
                                 "Time constant of engagement (stable over months)",
                                 "Lesener et al. 2020; Hu et al. 2011")
    trust_weeks: float = _p(10.0, 1.0, 104.0, "weeks", "behaviour",
                            "Time constant of trust in the manager", "assumption (months)")
    burnout_weeks: float = _p(8.0, 1.0, 104.0, "weeks", "behaviour",
                              "Time constant of burnout (exhaustion builds and heals slowly)",
                              "Oliva & Sterman 2001 (fatigue)")
    engagement_intercept: float = _p(-5.463, -10.0, 10.0, "logit", "behaviour",
                                     "Baseline log-odds of engagement with no job resources",
                                     "level-set with disposition_sd by the organisation fit "
                                     "(sim/organisation.py) to 27% engaged, 16% actively "
                                     "disengaged, between Gallup's 2024 global and US shares")
    eng_w_trust: float = _p(1.5, 0.0, 10.0, "logit per unit", "behaviour",
                            "Weight of trust in the manager on engagement", "seeds 000, 004")
    eng_w_resources: float = _p(1.0, 0.0, 10.0, "logit per unit", "behaviour",
                                "Weight of job resources on engagement", "seed 000; JD-R")
    eng_w_alignment: float = _p(1.2, 0.0, 10.0, "logit per unit", "behaviour",
                                "Weight of goal alignment (knowing why) on engagement",
                                "seeds 000, 001, 002, 004")
    eng_w_recognition: float = _p(0.8, 0.0, 10.0, "logit per unit", "behaviour",
                                  "Weight of recognition on engagement", "seed 002")
    eng_w_rewards: float = _p(0.8, 0.0, 10.0, "logit per unit", "behaviour",
                              "Weight of customer-linked rewards on engagement", "seed 002")
    eng_w_mentoring: float = _p(0.8, 0.0, 10.0, "logit per unit", "behaviour",
                                "Weight of one-to-one mentoring on engagement", "seed 002")
    eng_w_autonomy: float = _p(1.0, 0.0, 10.0, "logit per unit", "behaviour",
                               "Weight of autonomy on engagement", "seed 004; JD-R")
    eng_w_voice: float = _p(0.6, 0.0, 10.0, "logit per unit", "behaviour",
                            "Weight of voice climate on engagement", "seed 004")
    eng_w_surveys: float = _p(0.6, 0.0, 10.0, "logit per unit", "behaviour",
                              "Weight of surveys acted upon on engagement", "seed 002")
    eng_w_customer_feedback: float = _p(2.577, 0.0, 10.0, "logit per unit", "behaviour",
                                        "Weight of served customers' satisfaction on engagement",
                                        "calibrated (experiments/calibration); "
                                        "prior: seed 003 (win-win); Schneider et al. 1998")
    eng_w_burnout: float = _p(2.5, 0.0, 10.0, "logit per unit", "behaviour",
                              "Weight of burnout (negative) on engagement", "JD-R (Hu et al. 2011)")
    eng_w_fit: float = _p(1.0, 0.0, 10.0, "logit per unit", "behaviour",
                          "Weight of person-job fit on engagement", "seed 003")
    eng_w_pay: float = _p(1.0, 0.0, 10.0, "logit per x wage", "behaviour",
                          "Weight of relative pay on engagement", "turnover research")
    eng_w_mood: float = _p(1.0, 0.0, 10.0, "logit per unit", "behaviour",
                           "Weight of this week's mood on engagement", "seed 003")
    aptitude_sd: float = _p(0.15, 0.0, 0.5, "quality sd", "behaviour",
                            "Spread of individual service aptitude (ability, conscientiousness): "
                            "quality that differs between people beyond engagement and skill",
                            "Schmidt & Hunter 1998 (ability predicts performance most); "
                            "calibrated to T10a (rho about .48; scan of 0.05, 0.1, 0.15 gave "
                            ".74, .58, .51 over 3 seeds)")
    disposition_sd: float = _p(0.833, 0.0, 5.0, "logit", "behaviour",
                               "Spread of individual dispositions to engage",
                               "level-set with engagement_intercept to Gallup's 2024 shares "
                               "(see engagement_intercept)")
    engagement_contagion: float = _p(0.02, 0.0, 0.5, "per week", "behaviour",
                                     "Weekly pull of engagement toward peers'",
                                     "seed 003; Barsade 2002")
    mood_contagion: float = _p(0.3, 0.0, 0.9, "per week", "behaviour",
                               "Weekly pull of mood toward peers' mood", "seed 003; Barsade 2002")
    learn_experience: float = _p(0.006, 0.0, 0.2, "per week", "behaviour",
                                 "On-the-job learning toward full skill", "learning-curve research")
    learn_training: float = _p(0.4, 0.0, 5.0, "per week per time share", "behaviour",
                               "Learning from training time", "seeds 000, 002, 003, 004")
    learn_mentoring: float = _p(0.015, 0.0, 0.2, "per week", "behaviour",
                                "Learning from full one-to-one mentoring", "seed 002")
    learn_induction: float = _p(0.05, 0.0, 0.3, "per week", "behaviour",
                                "Extra learning during induction", "seed 003")
    induction_share: float = _p(0.5, 0.0, 0.9, "share of paid time", "behaviour",
                                "Share of an inductee's paid time spent in induction training, "
                                "off the floor and costed as training",
                                "seed 003 (induction); assumption (half the week)")
    skill_decay: float = _p(0.01, 0.0, 0.2, "per week", "behaviour",
                            "Skill lost per week without practice or renewal", "assumption")
    learning_engagement_base: float = _p(0.5, 0.0, 2.0, "x learning", "behaviour",
                                         "Learning speed of a fully disengaged employee; it rises "
                                         "one-for-one with engagement (x1 at engagement 0.5)",
                                         "assumption (engaged staff learn faster; JD-R)")
    learning_burnout_loss: float = _p(0.5, 0.0, 1.0, "share of learning", "behaviour",
                                      "Share of learning lost at full burnout (exhaustion blunts "
                                      "learning)", "assumption; JD-R (Hu et al. 2011)")
    burnout_base: float = _p(0.05, 0.0, 0.5, "index", "behaviour",
                             "Burnout the job settles at with no overload, hindrance or "
                             "customer strain", "assumption (a little exhaustion in any job)")
    burnout_overload: float = _p(1.0, 0.0, 5.0, "per unit excess load", "behaviour",
                                 "Burnout from workload above capacity",
                                 "Oliva & Sterman 2001; JD-R")
    burnout_hindrance: float = _p(0.3, 0.0, 2.0, "index", "behaviour",
                                  "Burnout from hindrances (control, missing resources)",
                                  "Crawford et al. 2010")
    burnout_customer_strain: float = _p(0.3, 0.0, 2.0, "index", "behaviour",
                                        "Burnout from dissatisfied customers' strain",
                                        "Dallimore et al. 2007")
    quit_base: float = _p(0.0132, 0.0, 0.2, "per week", "behaviour",
                          "Weekly quit probability of an average employee",
                          "calibrated (experiments/calibration); "
                          "prior: BLS quit rates; T12 (40-60%/year frontline)")
    quit_w_engagement: float = _p(2.662, 0.0, 10.0, "log-hazard per unit", "behaviour",
                                  "Rise in quitting as engagement falls",
                                  "calibrated (experiments/calibration); "
                                  "prior: turnover research")
    quit_w_burnout: float = _p(2.0, 0.0, 10.0, "log-hazard per unit", "behaviour",
                               "Rise in quitting with burnout", "turnover research")
    quit_w_trust: float = _p(1.0, 0.0, 10.0, "log-hazard per unit", "behaviour",
                             "Rise in quitting under a distrusted manager",
                             "Gallup 2015 (people leave managers)")
    quit_w_pay: float = _p(2.0, 0.0, 10.0, "log-hazard per x wage", "behaviour",
                           "Fall in quitting with relative pay", "Boushey & Glynn 2012")
    absence_base: float = _p(0.03, 0.0, 0.3, "per week", "behaviour",
                             "Weekly chance an average employee is away (sickness, absence)",
                             "assumption (2-4% of working time lost to absence)")
    absence_w_burnout: float = _p(2.0, 0.0, 10.0, "log-hazard per unit", "behaviour",
                                  "Rise in absence with burnout",
                                  "Schaufeli, Bakker & van Rhenen 2009")
    absence_w_engagement: float = _p(0.8, 0.0, 10.0, "log-hazard per unit", "behaviour",
                                     "Fall in absence with engagement",
                                     "calibrated to T10b (rho about -.17; scan of 0.4, 0.7, 1.0 "
                                     "gave -.04, -.14, -.23); Schaufeli, Bakker & van Rhenen 2009")
    hiring_lag_weeks: float = _p(4.0, 0.0, 26.0, "weeks", "behaviour",
                                 "Mean time to fill a vacancy (longer when selective)",
                                 "Schlesinger & Heskett 1991")
    selectivity_lag: float = _p(0.5, 0.0, 5.0, "x hiring lag", "behaviour",
                                "Extra time to fill a vacancy at full hiring selectivity, as a "
                                "share of hiring_lag_weeks", "assumption; seeds 000, 003")
    selectivity_fit_gain: float = _p(2.0, 0.0, 10.0, "exponent per unit", "behaviour",
                                     "Shift of hires' person-job fit with selectivity: fit = 1 - "
                                     "(1 - u)^(1 + gain x selectivity), mean fit 1/2 at no "
                                     "selectivity, 3/4 at full", "assumption; seeds 000, 003")
    mentoring_span: float = _p(8.0, 1.0, 40.0, "staff", "behaviour",
                               "Staff a manager can mentor fully; wider spans dilute it",
                               "seed 002")
    manager_spread: float = _p(0.122, 0.0, 0.5, "index sd", "behaviour",
                               "Spread of manager traits around the policy means",
                               "calibrated (experiments/calibration); "
                               "prior: Gallup 2015 (managers explain 70% of variance)",
                               structural=True)
    manager_engagement_weeks: float = _p(12.0, 1.0, 104.0, "weeks", "behaviour",
                                         "Time constant of managers' own engagement", "assumption")
    manager_drive_floor: float = _p(0.5, 0.0, 1.0, "share of traits", "behaviour",
                                    "Share of their traits (fairness, mentoring, recognition, "
                                    "communication) a fully disengaged manager still lives",
                                    "assumption; seed 000 (immediate managers); Gallup 2015")
    improvement_rate: float = _p(0.02, 0.0, 0.2, "per week", "behaviour",
                                 "Service-process improvement from voiced ideas",
                                 "seed 004 (ideas wither under distrust)")
    capacity_per_employee: float = _p(8.0, 1.0, 200.0, "encounters per week", "behaviour",
                                      "Encounters an employee handles per week at full time",
                                      "design assumption")
    skill_speed: float = _p(0.4, 0.0, 1.5, "x capacity per unit skill", "behaviour",
                            "Extra encounters a fully skilled employee handles over an unskilled "
                            "one (capacity x1 at skill 0.5)",
                            "assumption (learning-curve research)")
    internal_overhead: float = _p(0.177, 0.0, 0.6, "share of time", "behaviour",
                                  "Time lost to internal matters under a fully internal focus",
                                  "calibrated (experiments/calibration); "
                                  "prior: seed 001")
    norm_weight: float = _p(0.5, 0.0, 0.9, "share of quality", "behaviour",
                            "Share of delivered quality set by the unit's service norm (what its "
                            "staff hold as normal service) rather than by what they can do now",
                            "Oliva & Sterman 2001 (quality aspirations; standards drift toward "
                            "practice); weight an assumption")
    norm_erosion_weeks: float = _p(13.0, 1.0, 104.0, "weeks", "behaviour",
                                   "Time for a unit's service norm to fall to the quality it "
                                   "delivers when that is lower (goal erosion)",
                                   "Oliva & Sterman 2001; time an assumption (a quarter)")
    norm_recovery_weeks: float = _p(52.0, 1.0, 520.0, "weeks", "behaviour",
                                    "Time for the norm to rise to better delivered quality: "
                                    "slower than erosion, so a temporary squeeze leaves a lasting "
                                    "loss (hysteresis)",
                                    "Oliva & Sterman 2001 (permanent erosion after temporary "
                                    "imbalances); time an assumption (a year)")
    standard_quality: float = _p(0.5, 0.2, 0.9, "quality 0-1", "behaviour",
                                 "Quality the service system delivers whoever serves (the floor)",
                                 "design assumption; level-set by an organisation's CSAT "
                                 "(sim/organisation.py)")
    display_engagement_weight: float = _p(0.5, 0.0, 1.0, "share of display", "behaviour",
                                          "Share of a displayed mood that needs engagement "
                                          "behind it to count in quality",
                                          "Pugh 2001; Hennig-Thurau et al. 2006; weight an "
                                          "assumption")
    fix_floor_autonomy: float = _p(0.3, 0.0, 1.0, "share of fix chance", "behaviour",
                                   "Share of the chance to fix a problem kept with no autonomy",
                                   "seed 004 (authority to make it right); assumption")
    fix_floor_skill: float = _p(0.4, 0.0, 1.0, "share of fix chance", "behaviour",
                                "Share of the chance to fix a problem kept with no skill",
                                "seed 004 (ability to make it right); assumption")
    fix_floor_resources: float = _p(0.6, 0.0, 1.0, "share of fix chance", "behaviour",
                                    "Share of the chance to fix a problem kept with no resources",
                                    "seeds 000, 004; assumption")
    quality_noise: float = _p(0.3, 0.0, 1.0, "quality (uniform width)", "behaviour",
                              "Width of the uniform chance noise on an encounter's quality",
                              "assumption (visits differ by chance)")
    fixed_problem_bonus: float = _p(0.05, 0.0, 0.3, "quality", "behaviour",
                                    "Quality added when a problem is solved well (a small glow "
                                    "of service recovery)", "seed 004; assumption")
    unfixed_problem_factor: float = _p(0.5, 0.0, 1.0, "share of quality", "behaviour",
                                       "Share of quality kept when a problem is left unsolved",
                                       "seed 003; assumption")
    feedback_rate: float = _p(0.5, 0.01, 1.0, "weight per week", "behaviour",
                              "Weight of this week's served customers in an employee's "
                              "feedback (the rest is the feedback before)", "assumption")
    mood_persistence: float = _p(0.5, 0.0, 0.95, "share per week", "behaviour",
                                 "Share of last week's mood carried into this week",
                                 "assumption (moods last days, not weeks)")
    process_decay_share: float = _p(0.25, 0.01, 2.0, "x improvement rate", "behaviour",
                                    "Decay of process quality, as a share of the improvement "
                                    "rate (sets process quality at rest)", "seed 004; assumption")
    peer_p_within: float = _p(0.6, 0.0, 1.0, "probability", "behaviour",
                              "Chance two colleagues of one unit are peers",
                              "assumption (most colleagues of a small team know each other)",
                              structural=True)
    peer_cross_per_head: float = _p(1.0, 0.0, 10.0, "ties per employee", "behaviour",
                                    "Mean peer ties to colleagues of other units",
                                    "assumption", structural=True)
    # --- market: customers ----------------------------------------------------------------------
    promoter_satisfaction: float = _p(0.8, 0.5, 1.0, "satisfaction", "market",
                                      "Post-visit satisfaction at or above which a customer "
                                      "may rave", "Anderson 1998; threshold an assumption")
    detractor_satisfaction: float = _p(0.35, 0.0, 0.5, "satisfaction", "market",
                                       "Post-visit satisfaction at or below which a customer "
                                       "may complain", "Anderson 1998; threshold an assumption")
    visit_rate: float = _p(0.5, 0.01, 5.0, "visits per week", "market",
                           "Visits per week of a customer of average loyalty",
                           "design assumption")
    visit_loyalty_gain: float = _p(0.8, 0.0, 2.0, "x visit rate per unit loyalty", "market",
                                   "Rise of visits with loyalty (x1 at loyalty 0.5)",
                                   "Heskett et al. 1994 (loyal customers buy more); slope an "
                                   "assumption")
    problem_rate: float = _p(0.1, 0.0, 1.0, "share of visits", "market",
                             "Share of visits with a problem the employee must fix", "seed 004")
    bad_encounter_threshold: float = _p(0.3, 0.0, 1.0, "quality", "market",
                                        "Encounter quality below which a visit is a very bad one",
                                        "seed 003")
    p_leave_after_bad: float = _p(0.185, 0.0, 1.0, "probability", "market",
                                  "Chance a customer leaves for good after a very bad encounter",
                                  "calibrated (experiments/calibration); "
                                  "prior: PwC 2018 (17-32% after one bad experience)")
    disconfirmation_gain: float = _p(1.0, 0.0, 5.0, "per unit quality", "market",
                                     "Satisfaction gained per unit of quality above expectation",
                                     "Oliver 1980")
    market_expectation: float = _p(0.75, 0.0, 1.0, "quality 0-1", "market",
                                   "Mean service level local markets offer (competitors, the "
                                   "brand's promise)",
                                   "Zeithaml, Berry & Parasuraman 1993; assumption",
                                   structural=True)
    expectation_anchor: float = _p(0.5, 0.0, 1.0, "weight", "market",
                                   "Weight of the market's service level in expectations (the "
                                   "rest: own experience)", "Zeithaml, Berry & Parasuraman 1993")
    taste_spread: float = _p(0.15, 0.0, 0.5, "quality sd", "market",
                             "Spread of households' own standards (some are hard to please, "
                             "some easy), fixed per household: persistent satisfaction differences",
                             "Zeithaml, Berry & Parasuraman 1993 (personal needs shape desired "
                             "service); calibrated to T8b (3 seeds: 0, 0.1, 0.2 gave ratios "
                             "1.3, 1.7, 2.1 at the old churn weights)")
    expectation_weeks: float = _p(10.0, 1.0, 104.0, "weeks", "market",
                                  "Time constant of expectations adapting to experience",
                                  "Oliver 1980")
    satisfaction_memory: float = _p(0.3, 0.01, 1.0, "weight", "market",
                                    "Weight of the latest encounter in a customer's satisfaction",
                                    "service-profit chain")
    loyalty_weeks: float = _p(20.0, 1.0, 104.0, "weeks", "market",
                              "Time constant of loyalty following satisfaction",
                              "Heskett et al. 1994")
    loyalty_convexity: float = _p(3.0, 1.0, 8.0, "exponent", "market",
                                  "Convexity of loyalty in satisfaction", "Jones & Sasser 1995")
    churn_base: float = _p(0.002, 0.0, 0.1, "per week", "market",
                           "Weekly churn probability of a customer of loyalty 0.5",
                           "calibrated with churn_w_loyalty and taste_spread to T8a/T8b "
                           "(Jones & Sasser 1995: 15-40% of 'satisfied' defect yearly)")
    churn_w_loyalty: float = _p(6.0, 0.0, 10.0, "log-hazard per unit", "market",
                                "Fall in churn with loyalty",
                                "Jones & Sasser 1995 (very satisfied about 6x as loyal); "
                                "calibrated to T8b (was 3.0: ratio 1.3)")
    wom_promoter_p: float = _p(0.15, 0.0, 1.0, "probability", "market",
                               "Chance a delighted customer talks about the visit",
                               "Anderson 1998")
    wom_detractor_p: float = _p(0.25, 0.0, 1.0, "probability", "market",
                                "Chance an unhappy customer talks about the visit",
                                "Anderson 1998; de Matos & Rossi 2008")
    wom_degree: int = _p(6, 2, 50, "contacts", "market",
                         "Mean number of word-of-mouth contacts per person", "assumption",
                         structural=True)
    wom_nonlocal: float = _p(0.1, 0.0, 1.0, "share", "market",
                             "Share of contacts outside the local market", "assumption",
                             structural=True)
    referral_p: float = _p(0.03, 0.0, 1.0, "per message", "market",
                           "Chance a positive message turns a prospect into a customer",
                           "service-profit chain (referrals)")
    wom_churn: float = _p(0.01, 0.0, 0.5, "per message", "market",
                          "Extra churn chance per negative message heard", "Anderson 1998")
    wom_expectation: float = _p(0.02, 0.0, 0.5, "per message", "market",
                                "Shift of expectation per message heard", "Anderson 1998")
    acquisition_base: float = _p(0.01, 0.0, 0.1, "per week", "market",
                                 "Weekly chance a prospect tries the service unprompted",
                                 "assumption")
    acquisition_floor: float = _p(0.5, 0.0, 2.0, "x acquisition_base", "market",
                                  "Unprompted trials at a unit with CSAT 0; they rise "
                                  "one-for-one with the unit's CSAT (its reputation)",
                                  "assumption; service-profit chain")
    market_renewal: float = _p(0.02, 0.0, 0.1, "per week", "market",
                               "Weekly chance a lost customer's place goes to a new household",
                               "assumption")
    competition_spread: float = _p(0.05, 0.0, 0.3, "quality sd", "market",
                                   "Spread across units of the service level local competitors "
                                   "offer (persistent)",
                                   "assumption; Zeithaml, Berry & Parasuraman 1993",
                                   structural=True)
    staffing_spread: float = _p(0.15, 0.0, 1.0, "log sd", "market",
                                "Spread of units' headcount for their demand (persistently "
                                "thin or generous staffing)",
                                "assumption; Oliva & Sterman 2001 (work pressure)",
                                structural=True)
    market_size_spread: float = _p(0.35, 0.0, 1.5, "log sd", "market",
                                   "Spread of local market sizes across units", "assumption",
                                   structural=True)
    spend_per_visit: float = _p(1000.0, 1.0, 100_000.0, "$ per visit", "market",
                                "Spend per visit of a customer of loyalty 0.5",
                                "assumption: $300 of gross profit a visit at the default "
                                "goods_cost_share")
    spend_loyalty_premium: float = _p(0.4, 0.0, 2.0, "share", "market",
                                      "Extra spend of fully loyal versus disloyal customers",
                                      "Gallup CE3 (+23% share of wallet)")
    # --- finance -------------------------------------------------------------------------------
    goods_cost_share: float = _p(0.7, 0.0, 0.9, "share of revenue", "finance",
                                 "Cost of the goods and supplies sold, as a share of sales",
                                 "a retail-like chain: gross margin about 30% of sales (US "
                                 "Census Bureau, Annual Retail Trade Survey); restaurants' food "
                                 "cost is nearer 0.3 of sales")
    wage_weekly: float = _p(800.0, 0.0, 100_000.0, "$ per week", "finance",
                            "Weekly wage cost of a frontline employee at pay level 1",
                            "assumption")
    manager_wage_weekly: float = _p(1500.0, 0.0, 100_000.0, "$ per week", "finance",
                                    "Weekly wage cost of a unit manager", "assumption")
    resource_cost: float = _p(200.0, 0.0, 100_000.0, "$ per employee-week", "finance",
                              "Cost of full job resources per employee", "assumption")
    training_cost_share: float = _p(0.5, 0.0, 5.0, "x wage of time", "finance",
                                    "Trainers and materials per unit of wage spent in training",
                                    "assumption")
    recognition_cost: float = _p(20.0, 0.0, 10_000.0, "$ per employee-week", "finance",
                                 "Cost of full recognition per employee", "assumption")
    bonus_max: float = _p(0.15, 0.0, 1.0, "share of wage", "finance",
                          "Largest customer-linked bonus", "assumption")
    survey_cost: float = _p(10.0, 0.0, 10_000.0, "$ per employee-week", "finance",
                            "Cost of acting on all survey feedback per employee", "assumption")
    hiring_cost: float = _p(2000.0, 0.0, 1_000_000.0, "$ per hire", "finance",
                            "Recruiting cost of a hire (doubled at full selectivity)",
                            "T11 (Boushey & Glynn 2012)")
    fixed_cost_per_customer: float = _p(2.99, 0.0, 100_000.0, "$ per market person-week",
                                        "finance",
                                        "Premises and overheads, scaled by the local market size",
                                        "level-set by the organisation fit (sim/organisation.py) "
                                        "to a 10% margin at today's defaults; assumption")

    # --- measurement: the company's surveys -----------------------------------------------------
    survey_weeks: int = _p(13, 1, 52, "weeks", "measurement",
                           "Weeks between engagement surveys (the last result stands meanwhile)",
                           "assumption (quarterly pulse surveys)")
    survey_response_rate: float = _p(0.7, 0.05, 1.0, "share of staff", "measurement",
                                     "Share of staff who answer an engagement survey",
                                     "assumption (typical 60-80% response)")
    survey_item_noise: float = _p(0.1, 0.0, 0.5, "engagement sd", "measurement",
                                  "Noise of one employee's survey score around their engagement",
                                  "assumption; Q12 unit-level alpha about .91 (Harter et al.)")
    customer_survey_rate: float = _p(0.1, 0.001, 1.0, "share of visits", "measurement",
                                     "Share of visits followed by a 0-10 rating",
                                     "assumption")

    # fmt: on
    def __post_init__(self) -> None:
        for spec in SPECS.values():
            object.__setattr__(self, spec.name, spec.check(getattr(self, spec.name)))

    def replace(self, **changes: Any) -> Params:
        """Return a copy with ``changes`` applied (unknown names and bad values refused).

        Only the changed values are checked: the others passed their checks already (a run
        replaces its parameters at every change of its timeline, a sweep once per run).
        """
        check_names(changes)
        copy = object.__new__(Params)
        copy.__dict__.update({name: getattr(self, name) for name in SPECS})
        for name, value in changes.items():
            object.__setattr__(copy, name, SPECS[name].check(value))
        return copy

    def to_dict(self) -> dict[str, float | int]:
        """All parameters as a plain dict (for YAML and tables)."""
        return dataclasses.asdict(self)

    @cached_property
    def record(self) -> np.ndarray:
        """Every parameter in a one-element NumPy record array (dtype :data:`RECORD`)."""
        values = np.zeros(1, RECORD)
        for name in SPECS:
            values[name] = getattr(self, name)
        return values

    @cached_property
    def packed(self) -> np.ndarray:
        """:attr:`record`'s bytes: how the week's kernels take the parameters.

        Numba checks a record array's type field by field at every call (about 14 us for
        these fields, more than most kernels' work at default size); bytes pass in half a
        microsecond, and a kernel reads them as the record (:func:`sim.compiled.unpack`).
        """
        return self.record.view(np.uint8)

    @property
    def n_units(self) -> int:
        """Business units: one per manager, sized by the span of control."""
        return max(1, round(self.n_employees / self.span_of_control))


def _build_specs() -> dict[str, ParamSpec]:
    specs: dict[str, ParamSpec] = {}
    for f in dataclasses.fields(Params):
        kind = {"float": float, "int": int}[str(f.type)]
        specs[f.name] = ParamSpec(name=f.name, default=f.default, kind=kind, **f.metadata)
    return specs


SPECS: dict[str, ParamSpec] = _build_specs()
RECORD = np.dtype([(name, {float: np.float64, int: np.int64}[spec.kind])
                   for name, spec in SPECS.items()])  # Params.record's fields, in SPECS order
LEVERS: tuple[str, ...] = tuple(n for n, s in SPECS.items() if s.is_lever and not s.structural)


def check_names(values: dict[str, Any]) -> None:
    """Refuse names that are not parameters, listing the nearest valid ones."""
    import difflib

    for key in values:
        if key not in SPECS:
            near = difflib.get_close_matches(key, list(SPECS), n=3) if isinstance(key, str) else []
            hint = (f"; did you mean {', '.join(near)}?" if near
                    else "; run `sim params` for the list")
            raise ParameterError(f"unknown parameter {shown(key)}{hint}")


def check_keys(data: dict[Any, Any], allowed: tuple[str, ...], where: str,
               error: type[ParameterError] = ParameterError) -> None:
    """Refuse a key of a file's mapping that is not in ``allowed``, in one line naming it."""
    for key in data:
        if key not in allowed:
            raise error(f"{where}: unknown key {shown(key)} (allowed: {', '.join(allowed)})")


def check_cross_fields(params: Params) -> None:
    """Rules that involve more than one parameter."""
    if params.n_customers < params.n_units:
        raise ParameterError(
            f"n_customers={params.n_customers} is too small: need at least one per unit "
            f"({params.n_units} units)"
        )
