"""The Investment and Profit bridge tabs: the plan as an investment against the comparator.

The numbers come from :mod:`sim.app.invest` (per paired replication, then averaged); this module
only lays them out.
"""

from __future__ import annotations

import html

import numpy as np
import solara

from sim.app import charts, invest
from sim.app.charts import money
from sim.app.components import aria
from sim.app.invest import ci_text
from sim.app.state import Comparison
from sim.scenario import Intervention


def verdict(inv: invest.Investment, payback: int | None, versus: str) -> str:
    """One sentence on the cumulative cash difference (the mean curve's payback week)."""
    final = money(inv.profit.mean)
    if inv.identical:
        return (f"No difference to pay back: the plan's runs are exactly those of {versus} "
                "(same levers, same seeds).")
    if payback is None:
        return (f"Not paid back within {inv.weeks} weeks: {final} cumulative profit against "
                f"{versus}.")
    if payback <= 1:
        return f"Ahead from the first week: {final} against {versus} by week {inv.weeks}."
    return (f"Pays back in week {payback}: cumulative profit is {final} against {versus} by "
            f"week {inv.weeks}.")


def investment_rows(inv: invest.Investment, versus: str) -> list[tuple[str, str, str]]:
    """(what, value, detail) lines of the investment view."""
    if inv.identical:
        return [("Difference", "none", f"the plan and {versus} are the same runs")]
    roi = (f"{inv.roi:+,.0f}%" if inv.roi is not None else "n/a")
    roi_note = ("mean profit difference / mean extra cost over the horizon"
                if inv.roi is not None else f"the plan costs no more than {versus}: nothing "
                "invested to return on")
    if inv.payback is None:
        payback, pay_note = "none", (f"0 of {inv.reps} replications paid back within "
                                     f"{inv.weeks} weeks")
    else:
        est = inv.payback
        payback = f"week {est.mean:.0f}"
        ci = (f"95% CI week {max(est.low, 0):.0f} to {est.high:.0f}" if est.has_ci
              else "one paying-back replication: no CI")
        pay_note = (f"{ci}; {inv.paid_back} of {inv.reps} replications paid back within "
                    f"{inv.weeks} weeks (mean over those)")
    return [
        (f"Profit over weeks 1–{inv.weeks}", money(inv.profit.mean), ci_text(inv.profit)),
        (f"NPV at {inv.rate:.1%}/year", money(inv.npv.mean),
         f"{ci_text(inv.npv)}; weekly discounting (1 + r)^(-t/52)"),
        ("Extra cost of the plan", money(inv.extra_cost.mean), ci_text(inv.extra_cost)),
        ("ROI", roi, roi_note),
        ("Payback week", payback, pay_note),
        (f"P(beats {versus})", f"{inv.p_beats:.0%}", invest.beats_note(inv)),
    ]


@solara.component
def RateInput(rate: float, on_rate):
    """The yearly discount rate in %; a refused value is replaced by the last good one."""
    error, set_error = solara.use_state("")
    refusals, set_refusals = solara.use_state(0)

    def accept(value: float | None) -> None:
        if value is None or not 0 <= value <= 100:
            set_error("discount rate: a yearly % between 0 and 100")
            set_refusals(lambda n: n + 1)
            return
        set_error("")
        on_rate(value)

    with solara.Div(classes=["spc-rate"]):
        field = solara.InputFloat("Discount rate (%/year)", value=rate, on_value=accept,
                                  optional=True, dense=True, classes=["spc-input-rate"],
                                  style={"max-width": "190px"})
        aria(field.key(f"rate-{refusals}"), "Discount rate, % per year (0 to 100)")
        if error:
            solara.Text(error, classes=["spc-error"])


@solara.component
def InvestmentView(comparison: Comparison | None, timeline: tuple[Intervention, ...],
                   versus: str, rate: float, set_rate):
    """The plan as an investment: NPV, ROI, payback, P(beats), cash curve, cost lines."""
    with solara.Div(classes=["spc-panel"]):
        with solara.Row(style={"align-items": "center", "flex-wrap": "wrap", "gap": "12px"}):
            solara.Text("The plan as an investment", classes=["spc-panel-title"])
            RateInput(rate, set_rate)
        if comparison is None:
            solara.ProgressLinear(True)
            return
        inv = invest.investment(comparison, rate / 100)
        mean, low, high, payback = comparison.roi()
        solara.Text(verdict(inv, payback, versus), classes=["spc-roi-verdict"])
        with solara.Div(classes=["spc-invest"]):
            for what, value, detail in investment_rows(inv, versus):
                with solara.Div(classes=["spc-invest-row"], attributes={"data-row": what}):
                    solara.Text(what, classes=["spc-invest-what"])
                    solara.Text(value, classes=["spc-invest-value"])
                    solara.Text(detail, classes=["spc-invest-detail"])
        solara.FigureEcharts(charts.roi(np.arange(len(mean)), mean, low, high, payback, timeline,
                                        versus),
                             attributes={"style": "height: 320px"}, responsive=True)
        solara.Text(f"Cost by line over weeks 1–{inv.weeks}", classes=["spc-panel-title"])
        rows = "".join(
            f"<tr data-line='{key}'><td>{invest.COST_LINES[key]}</td><td>{money(p, False)}</td>"
            f"<td>{money(b, False)}</td><td>{money(d.mean)}</td>"
            f"<td>{html.escape(ci_text(d))}</td>"
            "</tr>" for key, (p, b, d) in inv.costs.items())
        solara.HTML(tag="table", classes=["spc-table", "spc-costs"], unsafe_innerHTML=(
            f"<thead><tr><th>line</th><th>plan</th><th>{html.escape(versus)}</th>"
            f"<th>difference</th><th></th></tr></thead><tbody>{rows}</tbody>"))


@solara.component
def BridgeView(comparison: Comparison | None, names: tuple[str, str]):
    """Profit bridge from the comparator to the plan over the horizon."""
    if comparison is None:
        solara.ProgressLinear(True)
        return
    b = invest.bridge(comparison)
    weeks = comparison.matrix("scenario", "profit").shape[1] - 1
    with solara.Div(classes=["spc-panel"]):
        solara.Text(f"From {names[1]} to {names[0]}: profit over weeks 1–{weeks}",
                    classes=["spc-panel-title"])
        solara.Text("Revenue = customer-weeks x visits per customer x spend per visit. Its "
                    "difference is split with the logarithmic mean Divisia index (LMDI-I): each "
                    "factor contributes L(plan revenue, comparator revenue) x ln(factor ratio), "
                    "and the three add up exactly to the revenue difference. Each cost line "
                    "follows (more cost counts against the plan). Computed per paired "
                    "replication, then averaged.", classes=["spc-panel-help"])
        solara.FigureEcharts(charts.bridge(names[1], b.comparator_profit,
                                           [(lbl, e.mean) for _, lbl, e in b.steps],
                                           names[0], b.plan_profit),
                             attributes={"style": "height: 360px"}, responsive=True)
        rows = "".join(f"<tr data-step='{key}'><td>{html.escape(lbl)}</td>"
                       f"<td>{money(e.mean)}</td><td>{html.escape(ci_text(e))}</td></tr>"
                       for key, lbl, e in b.steps)
        solara.HTML(tag="table", classes=["spc-table", "spc-bridge"], unsafe_innerHTML=(
            "<thead><tr><th>step</th><th>contribution</th><th></th></tr></thead><tbody>"
            f"<tr><td>{html.escape(names[1])} profit</td><td>{money(b.comparator_profit, False)}"
            f"</td><td></td></tr>{rows}<tr class='spc-total'><td>{html.escape(names[0])} profit"
            f"</td><td>{money(b.plan_profit, False)}</td><td>difference "
            f"{money(b.total)}</td></tr></tbody>"))

