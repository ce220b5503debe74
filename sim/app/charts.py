"""ECharts options for the page's figures.

ECharts ships with ``solara-assets`` (served locally, no CDN), draws thousands of points fast in
the browser, and takes plain dictionaries, so every figure here is a pure function of the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.params import SPECS
from sim.scenario import Intervention, ServiceScenario, TimelineEntry

INK = "#1f2a37"
MUTED = "#6b7280"
GRID = "#e5e7eb"
SCENARIO = "#0f766e"      # teal
BASELINE = "#64748b"      # slate
EVENT = "#b45309"         # amber
FONT = "Inter, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
# Low-to-high scale for engagement and satisfaction (red - sand - teal; readable for most).
SCALE = ["#b91c1c", "#f59e0b", "#e7e5e4", "#14b8a6", "#0f766e"]


@dataclass(frozen=True)
class Measure:
    """How a KPI is labelled and printed."""

    label: str
    unit: str = ""
    scale: float = 1.0     # multiply before printing
    digits: int = 2
    money: bool = False
    higher_is_better: bool = True

    def fmt(self, value: float, signed: bool = False) -> str:
        """``value`` in this measure's units, short enough for a card."""
        if value != value:  # nan
            return "n/a"
        v = value * self.scale
        sign = "+" if signed and v > 0 else ("-" if v < 0 else "")
        a = abs(v)
        if self.money:
            if a >= 1e6:
                text = f"${a / 1e6:,.2f}M"
            elif a >= 1e3:
                text = f"${a / 1e3:,.1f}k"
            else:
                text = f"${a:,.0f}"
        else:
            text = f"{a:,.{self.digits}f}"
        return f"{sign}{text}{self.unit}"


MEASURES: dict[str, Measure] = {
    "engagement_mean": Measure("Engagement", "", 100, 1),
    "engaged_share": Measure("Engaged staff", "%", 100, 1),
    "actively_disengaged_share": Measure("Actively disengaged", "%", 100, 1,
                                         higher_is_better=False),
    "trust_mean": Measure("Trust in manager", "", 100, 1),
    "burnout_mean": Measure("Burnout", "", 100, 1, higher_is_better=False),
    "skill_mean": Measure("Skill", "", 100, 1),
    "service_quality": Measure("Service quality", "", 100, 1),
    "csat": Measure("Customer satisfaction", "", 100, 1),
    "nps": Measure("Net promoter score", "", 1, 1),
    "customers_active": Measure("Active customers", "", 1, 0),
    "customer_churn_rate": Measure("Customer churn", "%/yr", 100, 1, higher_is_better=False),
    "employee_turnover_rate": Measure("Staff turnover", "%/yr", 100, 1, higher_is_better=False),
    "vacancies": Measure("Vacancies", "", 1, 1, higher_is_better=False),
    "revenue": Measure("Weekly revenue", "", money=True),
    "costs": Measure("Weekly costs", "", money=True, higher_is_better=False),
    "profit": Measure("Weekly profit", "", money=True),
    "cum_profit": Measure("Cumulative profit", "", money=True),
}
CARD_KPIS = ("engagement_mean", "service_quality", "csat", "nps", "customers_active",
             "employee_turnover_rate", "profit", "cum_profit")
CHART_KPIS = ("engagement_mean", "service_quality", "csat", "customers_active",
              "employee_turnover_rate", "profit")
# Weekly flows are noisy: the charts show them as trailing averages over this many weeks.
SMOOTH_WEEKS = {"employee_turnover_rate": 8, "customer_churn_rate": 8, "profit": 4,
                "revenue": 4, "costs": 4}


def money(value: float, signed: bool = True) -> str:
    """An amount of money as the cards show it (signed: with + or -)."""
    return MEASURES["cum_profit"].fmt(value, signed)


def lever_title(name: str) -> str:
    """A parameter's readable name, from its schema name (``pay_level`` -> ``Pay level``)."""
    return name.replace("_", " ").capitalize()


def lever_value(name: str, value: float) -> str:
    """A lever's value with its unit from the schema (``0.2 share of paid time``)."""
    unit = SPECS[name].unit
    return f"{value:g} {unit}".strip() if SPECS[name].kind is float else f"{int(value)} {unit}"


def timeline_rows(scenario: ServiceScenario) -> list[tuple[int, str, TimelineEntry | None]]:
    """The timeline as its author wrote it: (week, readable sentence, compact entry or None).

    A plain setting gives one row per lever; a "for N weeks" or ramp entry one row.
    """
    rows: list[tuple[int, str, TimelineEntry | None]] = []
    seen: list[TimelineEntry] = []
    for event in scenario.timeline:
        entry = event.entry
        if entry is None:
            rows += [(event.week, f"{lever_title(k).lower()} set to {lever_value(k, v)}", None)
                     for k, v in event.changes.items()]
            continue
        if any(e is entry or e == entry for e in seen):
            continue
        seen.append(entry)
        what = ", ".join(f"{lever_title(k).lower()} {lever_value(k, v)}"
                         for k, v in entry.changes.items())
        if entry.to_week is None:
            rows.append((entry.week, f"{what} for {entry.for_weeks} weeks, then restored "
                         f"(week {entry.week + entry.for_weeks})", entry))
        else:
            rows.append((entry.week, f"ramp linearly to {what} by week {entry.to_week}", entry))
    return rows


def _round(values: np.ndarray, digits: int = 4) -> list[float | None]:
    return [None if v != v else round(float(v), digits) for v in values]


def _base(title: str, subtitle: str = "") -> dict[str, Any]:
    return {
        "animation": False,
        "textStyle": {"fontFamily": FONT, "color": INK},
        "title": {"text": title, "subtext": subtitle, "left": 8, "top": 4,
                  "textStyle": {"fontSize": 14, "fontWeight": 600, "color": INK},
                  "subtextStyle": {"fontSize": 11, "color": MUTED}},
        "grid": {"left": 56, "right": 18, "top": 58, "bottom": 34},
    }


def _weeks_axis(weeks: np.ndarray) -> dict[str, Any]:
    span = int(weeks[-1]) if len(weeks) else 1
    every = next((w for w in (1, 2, 4, 13, 26, 52, 104, 260) if span / w <= 9), 520)
    return {"type": "category", "data": weeks.tolist(), "boundaryGap": False, "name": "week",
            "nameLocation": "middle", "nameGap": 22, "splitLine": {"show": False},
            "axisLabel": {"color": MUTED, "interval": every - 1}, "axisTick": {"show": False},
            "nameTextStyle": {"color": MUTED}}


def _event_lines(timeline: tuple[Intervention, ...]) -> dict[str, Any]:
    """A dashed line at each plain setting's week and at the start of each compact entry."""
    starts = sorted({e.week if e.entry is None else e.entry.week for e in timeline})
    return {
        "symbol": "none", "silent": True,
        "lineStyle": {"color": EVENT, "type": "dashed", "width": 1.2},
        "label": {"formatter": "{b}", "color": EVENT, "fontSize": 10, "position": "insideEndTop"},
        "data": [{"xAxis": w, "name": f"wk {w}"} for w in starts],
    }


def _event_areas(timeline: tuple[Intervention, ...]) -> dict[str, Any]:
    """A shaded span for each "for N weeks" entry (until the restore) and each ramp."""
    entries: list[TimelineEntry] = []
    for event in timeline:
        if event.entry is not None and not any(e is event.entry for e in entries):
            entries.append(event.entry)
    spans = []
    for item in entries:
        end = item.to_week if item.to_week is not None else item.week + (item.for_weeks or 0)
        name = "ramp" if item.to_week is not None else f"{item.for_weeks} wk"
        spans.append([{"xAxis": item.week, "name": name}, {"xAxis": end}])
    return {"silent": True, "itemStyle": {"color": EVENT, "opacity": 0.08},
            "label": {"color": EVENT, "fontSize": 10, "position": "insideTop"}, "data": spans}


def timeseries(key: str, weeks: np.ndarray, scenario: tuple[np.ndarray, ...],
               baseline: tuple[np.ndarray, ...], timeline: tuple[Intervention, ...],
               names: tuple[str, str], smoothing: str = "") -> dict[str, Any]:
    """One KPI over time: mean lines with 95% bands, scenario over baseline, events marked.

    Bands are drawn as a transparent lower line plus a stacked, filled width, which needs a
    category axis (one category per week, so a week number is also its index).
    """
    m = MEASURES[key]
    digits = 4 if m.scale == 1 and not m.money else 5

    def scaled(a: np.ndarray) -> list[float | None]:
        return _round(a * m.scale, digits)

    series: list[dict[str, Any]] = []
    for (mean, low, high), colour, name, stack in ((baseline, BASELINE, names[1], "b"),
                                                   (scenario, SCENARIO, names[0], "s")):
        series += [
            {"type": "line", "data": scaled(low), "stack": stack, "stackStrategy": "all",
             "symbol": "none", "lineStyle": {"opacity": 0}, "silent": True,
             "tooltip": {"show": False}},
            {"type": "line", "data": scaled(high - low), "stack": stack, "stackStrategy": "all",
             "symbol": "none",
             "lineStyle": {"opacity": 0}, "silent": True,
             "areaStyle": {"color": colour, "opacity": 0.18}, "tooltip": {"show": False}},
            {"type": "line", "name": name, "data": _round(mean * m.scale, 0 if m.money
                                                          else m.digits),
             "symbol": "none", "lineStyle": {"color": colour, "width": 2},
             "itemStyle": {"color": colour}},
        ]
    if timeline:
        series[-1]["markLine"] = _event_lines(timeline)
        series[-1]["markArea"] = _event_areas(timeline)
    unit = m.unit.strip() or ("$" if m.money else "0-100 scale" if m.scale == 100 else "count")
    option = _base(m.label, f"{unit} · {smoothing}mean and 95% band")
    option.update({
        "tooltip": {"trigger": "axis"},
        "xAxis": _weeks_axis(weeks),
        "yAxis": {"type": "value", "scale": True, "splitLine": {"lineStyle": {"color": GRID}},
                  "axisLabel": {"color": MUTED}},
        "series": series,
    })
    return option


def roi(weeks: np.ndarray, mean: np.ndarray, low: np.ndarray, high: np.ndarray,
        payback: int | None, timeline: tuple[Intervention, ...],
        comparator: str = "today") -> dict[str, Any]:
    """Cumulative profit difference to the comparator, with the payback week marked."""
    lo = np.where(np.isnan(low), mean, low)
    hi = np.where(np.isnan(high), mean, high)
    series: list[dict[str, Any]] = [
        {"type": "line", "data": _round(lo, 0), "stack": "ci", "stackStrategy": "all",
         "symbol": "none", "lineStyle": {"opacity": 0}, "silent": True},
        {"type": "line", "data": _round(hi - lo, 0), "stack": "ci", "stackStrategy": "all",
         "symbol": "none", "lineStyle": {"opacity": 0}, "silent": True,
         "areaStyle": {"color": SCENARIO, "opacity": 0.16}},
        {"type": "line", "name": "cumulative profit difference",
         "data": _round(mean, 0), "symbol": "none",
         "lineStyle": {"color": SCENARIO, "width": 2.5}, "itemStyle": {"color": SCENARIO},
         "markLine": {"symbol": "none", "silent": True,
                      "lineStyle": {"color": INK, "width": 1}, "label": {"show": False},
                      "data": [{"yAxis": 0}]}},
    ]
    events = _event_lines(timeline)
    if payback is not None and payback > 1:
        events["data"].append({"xAxis": payback, "name": f"payback wk {payback}",
                               "lineStyle": {"color": SCENARIO, "type": "solid", "width": 2},
                               "label": {"color": SCENARIO, "fontWeight": 700}})
    if events["data"]:
        series.append({"type": "line", "data": [], "markLine": events,
                       "markArea": _event_areas(timeline)})
    return _cash_chart(f"Cumulative cash difference vs {comparator}",
                       "$ · mean and 95% band of paired differences", weeks, series, 34)


def _cash_chart(title: str, subtitle: str, weeks: np.ndarray, series: list[dict[str, Any]],
                bottom: int, **extra: Any) -> dict[str, Any]:
    """A chart of cumulative cash differences over the weeks (``bottom``: room for a legend)."""
    option = _base(title, subtitle)
    option.update({
        "tooltip": {"trigger": "axis"},
        **extra,
        "grid": {"left": 72, "right": 18, "top": 58, "bottom": bottom},
        "xAxis": _weeks_axis(weeks),
        "yAxis": {"type": "value", "splitLine": {"lineStyle": {"color": GRID}},
                  "axisLabel": {"color": MUTED}},
        "series": series,
    })
    return option


def units_scatter(engagement: np.ndarray, csat: np.ndarray, profit: np.ndarray,
                  week: int) -> dict[str, Any]:
    """Each business unit's engagement against customer satisfaction; colour = weekly profit."""
    data = [[round(float(e) * 100, 1), round(float(c) * 100, 1), round(float(p), 0), i + 1]
            for i, (e, c, p) in enumerate(zip(engagement, csat, profit, strict=True))]
    lim = float(np.abs(profit).max()) if len(profit) else 1.0
    option = _base("Business units", f"week {week} · engagement vs customer satisfaction, "
                   "colour = weekly profit")
    option.update({
        "grid": {"left": 56, "right": 80, "top": 58, "bottom": 40},
        "tooltip": {"trigger": "item", "formatter": "unit {@[3]}<br/>engagement {@[0]} · CSAT "
                    "{@[1]}<br/>weekly profit ${@[2]}"},
        # Fixed 0-100 axes: during Play the points move, the axes do not.
        "xAxis": {"type": "value", "name": "engagement (0-100)", "nameLocation": "middle",
                  "nameGap": 24, "min": 0, "max": 100,
                  "splitLine": {"lineStyle": {"color": GRID}}},
        "yAxis": {"type": "value", "name": "CSAT (0-100)", "min": 0, "max": 100,
                  "splitLine": {"lineStyle": {"color": GRID}}},
        "visualMap": {"min": -max(lim, 1.0), "max": max(lim, 1.0), "dimension": 2,
                      "inRange": {"color": [SCALE[0], SCALE[2], SCALE[4]]}, "right": 4, "top": 60,
                      "itemHeight": 120, "text": ["profit +", "-"], "calculable": False,
                      "textStyle": {"fontSize": 10, "color": MUTED}},
        "series": [{"type": "scatter", "data": data, "symbolSize": 16,
                    "itemStyle": {"borderColor": INK, "borderWidth": 0.6}}],
    })
    return option


@dataclass(frozen=True)
class Layout:
    """Fixed, seeded positions of every employee slot, manager and customer slot.

    Units sit on a grid; a unit's manager at its centre, its staff on a ring, its customers in a
    cloud around them. Computing it is instant and it never moves, unlike a spring layout.
    """

    employee_xy: np.ndarray
    manager_xy: np.ndarray
    customer_xy: np.ndarray


def layout(n_units: int, employee_unit: np.ndarray, customer_unit: np.ndarray,
           seed: int) -> Layout:
    """Positions for units' members (seeded: the same model gives the same picture)."""
    rng = np.random.default_rng(seed)
    cols = int(np.ceil(np.sqrt(n_units * 1.6)))
    centre = np.column_stack([np.arange(n_units) % cols, np.arange(n_units) // cols]).astype(float)
    centre[:, 1] *= -1.0

    def ring(units: np.ndarray, radius: float) -> np.ndarray:
        order = np.argsort(units, kind="stable")
        counts = np.bincount(units, minlength=n_units)
        rank = np.empty(len(units), dtype=int)
        rank[order] = np.arange(len(units)) - np.repeat(np.cumsum(counts) - counts, counts)
        angle = 2 * np.pi * rank / np.maximum(counts[units], 1)
        return centre[units] + radius * np.column_stack([np.cos(angle), np.sin(angle)])

    employees = ring(employee_unit, 0.16)
    angle = rng.uniform(0, 2 * np.pi, len(customer_unit))
    radius = 0.24 + 0.18 * np.sqrt(rng.uniform(0, 1, len(customer_unit)))
    customers = centre[customer_unit] + radius[:, None] * np.column_stack([np.cos(angle),
                                                                          np.sin(angle)])
    return Layout(employees, centre, customers)


def network(lay: Layout, peer_src: np.ndarray, peer_dst: np.ndarray, filled: np.ndarray,
            engagement: np.ndarray, employee_unit: np.ndarray, manager_engagement: np.ndarray,
            customer_active: np.ndarray, satisfaction: np.ndarray, week: int) -> dict[str, Any]:
    """Org chart and peer ties coloured by engagement; customers coloured by satisfaction."""
    xy = np.round(lay.employee_xy, 3)
    mxy = np.round(lay.manager_xy, 3)
    on = filled[peer_src] & filled[peer_dst]
    peer_lines = [[xy[a].tolist(), xy[b].tolist()] for a, b in zip(peer_src[on], peer_dst[on],
                                                                    strict=True)]
    staff = np.flatnonzero(filled)
    org_lines = [[mxy[employee_unit[s]].tolist(), xy[s].tolist()] for s in staff]
    cust = np.flatnonzero(customer_active)
    cxy = np.round(lay.customer_xy[cust], 3)
    # Customers are many: drawn in ECharts' large mode, which ignores a visualMap, so they are
    # coloured here, one series per satisfaction band of the same scale as the legend.
    band = np.minimum((satisfaction[cust] * len(SCALE)).astype(int), len(SCALE) - 1)
    customers = [{"type": "scatter", "name": "customers", "data": cxy[band == i].tolist(),
                  "symbolSize": 3, "large": True, "silent": True,
                  "itemStyle": {"color": colour}} for i, colour in enumerate(SCALE)]
    staff_pts = np.column_stack([xy[staff], np.round(engagement[staff], 3)]).tolist()
    managers = np.column_stack([mxy, np.round(manager_engagement, 3)]).tolist()

    def lines(data: list, colour: str, opacity: float) -> dict[str, Any]:
        return {"type": "lines", "coordinateSystem": "cartesian2d", "polyline": False,
                "silent": True, "data": [{"coords": c} for c in data],
                "lineStyle": {"color": colour, "width": 0.6, "opacity": opacity}}

    option = _base("Inside the organisation",
                   f"week {week} · staff and managers by engagement, customers by satisfaction")
    option.update({
        "grid": {"left": 8, "right": 96, "top": 58, "bottom": 8},
        "xAxis": {"type": "value", "show": False, "scale": True},
        "yAxis": {"type": "value", "show": False, "scale": True},
        "tooltip": {"show": False},
        "visualMap": [
            {"min": 0, "max": 1, "dimension": 2, "seriesIndex": [len(SCALE) + 2, len(SCALE) + 3],
             "inRange": {"color": SCALE},
             "right": 4, "top": 60, "itemHeight": 110, "text": ["engaged", "disengaged"],
             "calculable": False, "textStyle": {"fontSize": 10, "color": MUTED}},
            # The customers' legend (same scale; their colours are set per band above).
            {"min": 0, "max": 1, "seriesIndex": [len(SCALE) + 4], "inRange": {"color": SCALE},
             "right": 4, "top": 230, "itemHeight": 110, "text": ["satisfied", "unhappy"],
             "calculable": False, "textStyle": {"fontSize": 10, "color": MUTED}},
        ],
        "series": [
            lines(peer_lines, BASELINE, 0.18),
            lines(org_lines, INK, 0.25),
            *customers,
            {"type": "scatter", "name": "staff", "data": staff_pts, "symbolSize": 7,
             "itemStyle": {"borderColor": INK, "borderWidth": 0.3}, "silent": True},
            {"type": "scatter", "name": "managers", "data": managers, "symbol": "diamond",
             "symbolSize": 14, "itemStyle": {"borderColor": INK, "borderWidth": 1}, "silent": True},
            {"type": "scatter", "data": [], "silent": True},   # carries the customers' legend
        ],
    })
    return option


def bridge(start_label: str, start: float, steps: list[tuple[str, float]], end_label: str,
           end: float) -> dict[str, Any]:
    """Waterfall from the comparator's profit to the plan's: one bar per contribution."""
    names = [start_label, *[s[0] for s in steps], end_label]
    base, up, down = [], [], []   # bar i spans base[i] .. base[i] + up[i] + down[i]

    def add(low: float, value: float) -> None:
        base.append(low)
        up.append(value if value > 0 else 0.0)
        down.append(-value if value < 0 else 0.0)

    add(min(start, 0.0), start)
    level = start
    for _, value in steps:
        add(min(level, level + value), value)
        level += value
    add(min(end, 0.0), end)
    totals = {0, len(names) - 1}

    def bar(values: list[float], colour: str, name: str) -> dict[str, Any]:
        # stackStrategy "all": a negative base still stacks under the bar (not per sign).
        return {"type": "bar", "name": name, "stack": "w", "stackStrategy": "all", "data": [
            {"value": round(v, 0), "itemStyle": {"color": BASELINE if i in totals else colour}}
            for i, v in enumerate(values)]}

    option = _base("Profit bridge", "$ over the horizon · comparator to plan, mean of paired "
                   "replications")
    option.update({
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "grid": {"left": 80, "right": 18, "top": 58, "bottom": 90},
        "xAxis": {"type": "category", "data": names,
                  "axisLabel": {"color": MUTED, "rotate": 35, "interval": 0, "fontSize": 10}},
        "yAxis": {"type": "value", "scale": True, "splitLine": {"lineStyle": {"color": GRID}},
                  "axisLabel": {"color": MUTED}},
        "series": [
            {"type": "bar", "stack": "w", "stackStrategy": "all", "silent": True,
             "tooltip": {"show": False},
             "itemStyle": {"color": "transparent"}, "data": [round(v, 0) for v in base]},
            bar(up, "#047857", "increase"),
            bar(down, "#b91c1c", "decrease"),
        ],
    })
    return option


# One colour per plan in the overlay (Okabe-Ito, readable for most colour vision).
PLAN_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442",
                "#000000"]


def overlay(weeks: np.ndarray, plans: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
            comparator: str) -> dict[str, Any]:
    """Cumulative profit difference of several plans against one comparator, with a legend."""
    series: list[dict[str, Any]] = []
    for i, (name, mean, low, high) in enumerate(plans):
        colour = PLAN_COLOURS[i % len(PLAN_COLOURS)]
        lo = np.where(np.isnan(low), mean, low)
        hi = np.where(np.isnan(high), mean, high)
        stack = f"band{i}"
        series += [
            {"type": "line", "data": _round(lo, 0), "stack": stack, "stackStrategy": "all",
             "symbol": "none", "lineStyle": {"opacity": 0}, "silent": True,
             "tooltip": {"show": False}},
            {"type": "line", "data": _round(hi - lo, 0), "stack": stack, "stackStrategy": "all",
             "symbol": "none", "lineStyle": {"opacity": 0}, "silent": True,
             "areaStyle": {"color": colour, "opacity": 0.10}, "tooltip": {"show": False}},
            {"type": "line", "name": name, "data": _round(mean, 0), "symbol": "none",
             "lineStyle": {"color": colour, "width": 2.2}, "itemStyle": {"color": colour}},
        ]
    return _cash_chart(f"Cumulative profit vs {comparator}",
                       "$ · mean and 95% band of paired differences, one colour per plan", weeks,
                       series, 60,
                       legend={"data": [p[0] for p in plans], "bottom": 0, "type": "scroll"})
