"""A one-page PDF report of a comparison, drawn on the server with matplotlib.

The page holds the plans, the ranked table, the key charts, the assumptions (the levers that
differ from the comparator, the timeline), the seed, the replications, the horizon and the code
version. The page's state (the link's query string and the plan's fully resolved scenario YAML)
is embedded in the PDF's ``Subject`` entry and the file carries no creation date, so the same
state gives the same report byte for byte, and :func:`embedded_state` reads the state back out
of a saved report to reproduce it.
"""

from __future__ import annotations

import io
import json
import re
import zlib
from dataclasses import dataclass, field
from importlib import metadata

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - after choosing the file-only backend
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from sim.app import charts, invest  # noqa: E402
from sim.app.state import END_WEEKS, FLOWS, Comparison  # noqa: E402
from sim.cache import code_fingerprint  # noqa: E402
from sim.params import SPECS  # noqa: E402

MARK = "sim-app-state:"       # starts the embedded state in the PDF's Subject


@dataclass
class ReportInput:
    """What the report shows: the page's comparison, names and state."""

    comparison: Comparison
    plan: str                       # the plan's name as on the page
    versus: str                     # the comparator's name as on the page
    rate: float                     # yearly discount rate (a fraction)
    link: str                       # the page's query string: opening it reproduces the view
    plans: list[tuple[str, Comparison]] = field(default_factory=list)   # compared plans


def code_version() -> str:
    """The package version and the fingerprint of the model's source."""
    try:
        version = metadata.version("service-profit-sim")
    except metadata.PackageNotFoundError:
        version = "source"
    return f"{version} · model code {code_fingerprint()}"


def changed_levers(comparison: Comparison) -> list[tuple[str, str, str]]:
    """(lever, plan, comparator) for each lever whose value differs between the two."""
    plan = comparison.scenario.scenario.params
    comp = comparison.baseline.scenario.params
    return [(charts.lever_title(n), charts.lever_value(n, getattr(plan, n)),
             charts.lever_value(n, getattr(comp, n)))
            for n, spec in SPECS.items() if spec.is_lever and getattr(plan, n) != getattr(comp, n)]


def _state(data: ReportInput) -> str:
    scenario = data.comparison.scenario.scenario
    blob = json.dumps({"link": data.link, "scenario": scenario.to_yaml()}, sort_keys=True)
    return MARK + zlib.compress(blob.encode(), 9).hex()


def embedded_state(pdf: bytes) -> dict[str, str]:
    """The state a report was made from: ``{"link": query, "scenario": YAML}``."""
    found = re.search(rb"/Subject \(" + MARK.encode() + rb"([0-9a-f]+)\)", pdf)
    if found is None:
        raise ValueError("not a report of this page (no embedded state)")
    return json.loads(zlib.decompress(bytes.fromhex(found.group(1).decode())))


def _kpi_rows(comparison: Comparison, versus: str) -> list[list[str]]:
    rows = []
    for key in charts.CARD_KPIS:
        m, stat = charts.MEASURES[key], comparison.end(key)
        ci = (f"{m.fmt(stat.low, True)} to {m.fmt(stat.high, True)}" if stat.low == stat.low
              else "no CI")
        rows.append([m.label + ("*" if key in FLOWS else ""), m.fmt(stat.scenario),
                     m.fmt(stat.baseline), m.fmt(stat.diff, True), ci])
    return rows


def _plan_rows(data: ReportInput) -> list[list[str]]:
    plans = data.plans or [(data.plan, data.comparison)]
    rows = []
    for name, comp in plans:
        inv = invest.investment(comp, data.rate)
        pay = ("none" if inv.payback is None else f"wk {inv.payback.mean:.0f}") \
            if not inv.identical else "no difference"
        rows.append([name, charts.money(inv.profit.mean), charts.money(inv.npv.mean), pay,
                     f"{inv.p_beats:.0%}", inv.profit.mean])
    rows.sort(key=lambda r: -float(r[-1]))
    return [[str(i), *r[:-1]] for i, r in enumerate(rows, 1)]


def _table(ax, rows: list[list[str]], head: list[str], widths: list[float]) -> None:
    ax.axis("off")
    table = ax.table(cellText=rows or [["-"] * len(head)], colLabels=head, colWidths=widths,
                     loc="upper left", cellLoc="left", colLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(6.5)
    table.scale(1, 1.15)
    for (r, _), cell in table.get_celld().items():
        cell.set_edgecolor("#d1d5db")
        cell.set_linewidth(0.4)
        if r == 0:
            cell.set_facecolor("#f3f4f6")
            cell.set_text_props(weight="bold")


@FuncFormatter
def _dollars(value: float, _pos: int) -> str:
    return charts.MEASURES["cum_profit"].fmt(value, False) if value >= 0 else \
        "-" + charts.MEASURES["cum_profit"].fmt(-value, False)


def _band(ax, weeks, mean, low, high, colour: str, name: str) -> None:
    ax.fill_between(weeks, low, high, color=colour, alpha=0.18, linewidth=0)
    ax.plot(weeks, mean, color=colour, linewidth=1.4, label=name)


def _style(ax, title: str) -> None:
    ax.set_title(title, fontsize=8, loc="left", color=charts.INK)
    ax.tick_params(labelsize=6, colors=charts.MUTED)
    ax.grid(color=charts.GRID, linewidth=0.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel("week", fontsize=6, color=charts.MUTED)


def _events(ax, data: ReportInput) -> None:
    for week, _, entry in charts.timeline_rows(data.comparison.scenario.scenario):
        ax.axvline(week, color=charts.EVENT, linestyle="--", linewidth=0.7)
        if entry is not None:
            end = entry.to_week if entry.to_week is not None else week + (entry.for_weeks or 0)
            ax.axvspan(week, end, color=charts.EVENT, alpha=0.08, linewidth=0)


def pdf(data: ReportInput) -> bytes:
    """The one-page report as PDF bytes (the same input gives the same bytes)."""
    with matplotlib.rc_context({"text.parse_math": False}):   # "$" is money, not maths
        fig = draw(data)
    try:
        out = io.BytesIO()
        with PdfPages(out, metadata={"Title": f"{data.plan} vs {data.versus}",
                                     "Subject": _state(data), "CreationDate": None,
                                     "Creator": "service-profit-sim"}) as book:
            book.savefig(fig)
        return out.getvalue()
    finally:
        plt.close(fig)


def draw(data: ReportInput) -> plt.Figure:
    """The report's page as a matplotlib figure (A4 landscape); the caller closes it."""
    comp = data.comparison
    scenario = comp.scenario.scenario
    weeks = list(range(comp.matrix("scenario", "cum_profit").shape[1]))
    fig = plt.figure(figsize=(11.69, 8.27))
    try:
        fig.text(0.03, 0.965, f"{data.plan} vs {data.versus}", fontsize=14, weight="bold",
                 color=charts.INK)
        seeds = f"{scenario.seed}–{scenario.seed + scenario.reps - 1}"
        fig.text(0.03, 0.94, f"Service-profit chain · what-if report · {scenario.mode} · "
                 f"horizon {scenario.steps} weeks · {scenario.reps} paired replications (seeds "
                 f"{seeds}) · {scenario.params.n_employees:,} staff, "
                 f"{scenario.params.n_customers:,} people in the market · code {code_version()}",
                 fontsize=7, color=charts.MUTED)
        grid = fig.add_gridspec(3, 3, left=0.03, right=0.98, top=0.88, bottom=0.06,
                                hspace=0.6, wspace=0.3, width_ratios=[1.35, 1, 1])
        ax = fig.add_subplot(grid[0, 0])
        _table(ax, _kpi_rows(comp, data.versus),
               ["KPI at horizon", "plan", data.versus, "difference", "95% CI"],
               [0.31, 0.13, 0.13, 0.14, 0.3])
        ax.set_title(f"At the horizon (mean of paired replications; * mean of the last "
                     f"{END_WEEKS} weeks)", fontsize=8, loc="left")
        ax = fig.add_subplot(grid[1, 0])
        _table(ax, _plan_rows(data), ["#", "plan", "profit", f"NPV {data.rate:.0%}",
                                      "payback", f"P(beats {data.versus})"],
               [0.05, 0.35, 0.14, 0.14, 0.14, 0.18])
        ax.set_title(f"Plans ranked by profit over the horizon, against {data.versus}",
                     fontsize=8, loc="left")
        ax = fig.add_subplot(grid[2, 0])
        lines = [f"{n}: {p} (vs {c})" for n, p, c in changed_levers(comp)] or \
            [f"no lever differs from {data.versus}"]
        lines += [f"week {w}: {text}" for w, text, _ in charts.timeline_rows(scenario)]
        ax.axis("off")
        ax.set_title("Assumptions: levers that differ, timeline", fontsize=8, loc="left")
        ax.text(0, 1, "\n".join(lines[:16] + (["…"] if len(lines) > 16 else [])),
                fontsize=6.5, va="top", transform=ax.transAxes, color=charts.INK)
        mean, low, high, payback = comp.roi()
        ax = fig.add_subplot(grid[0, 1:])
        _band(ax, weeks, mean, low, high, charts.SCENARIO, "plan minus comparator")
        ax.axhline(0, color=charts.INK, linewidth=0.6)
        if payback is not None and payback > 1:
            ax.axvline(payback, color=charts.SCENARIO, linewidth=1)
            ax.text(payback, ax.get_ylim()[1], f" payback wk {payback}", fontsize=6,
                    va="top", color=charts.SCENARIO)
        _events(ax, data)
        _style(ax, f"Cumulative cash difference vs {data.versus} ($, mean and 95% band)")
        ax.yaxis.set_major_formatter(_dollars)
        for i, key in enumerate(("engagement_mean", "csat")):
            ax = fig.add_subplot(grid[1, 1 + i])
            m = charts.MEASURES[key]
            for which, colour, name in (("baseline", charts.BASELINE, data.versus),
                                        ("scenario", charts.SCENARIO, data.plan)):
                _band(ax, weeks, *(a * m.scale for a in comp.band(which, key)), colour, name)
            _events(ax, data)
            _style(ax, f"{m.label} (mean and 95% band)")
            ax.legend(fontsize=6, frameon=False)
        ax = fig.add_subplot(grid[2, 1:])
        if data.plans:
            for i, (name, other) in enumerate(data.plans):
                colour = charts.PLAN_COLOURS[i % len(charts.PLAN_COLOURS)]
                _band(ax, weeks, *other.roi()[:3], colour, name)
            ax.axhline(0, color=charts.INK, linewidth=0.6)
            _style(ax, f"Compared plans: cumulative profit vs {data.versus} ($)")
        else:
            window = charts.SMOOTH_WEEKS["profit"]
            for which, colour, name in (("baseline", charts.BASELINE, data.versus),
                                        ("scenario", charts.SCENARIO, data.plan)):
                _band(ax, weeks, *comp.band(which, "profit", window), colour, name)
            _events(ax, data)
            _style(ax, f"Weekly profit ($, {window}-week average, mean and 95% band)")
        ax.yaxis.set_major_formatter(_dollars)
        ax.legend(fontsize=6, frameon=False, ncol=4)
        fig.text(0.03, 0.015, "Bands: 95% interval of the mean over paired replications (same "
                 "seeds for plan and comparator). Reproduce: open the page with ?"
                 f"{data.link[:150]}{'…' if len(data.link) > 150 else ''}",
                 fontsize=5.5, color=charts.MUTED)
    except Exception:
        plt.close(fig)
        raise
    return fig
