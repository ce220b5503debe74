"""The "Why & sensitivity" tab in Chromium: drivers, the chain, Shapley values and the tornado.

Screenshots go to test-artifacts/ (explain-*.png); how long the Shapley values and the tornado
took is appended to test-artifacts/explain-timing.txt (recorded, not asserted).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from sim.params import SPECS
from tests.browser.test_explorer import (
    RUN_TIMEOUT_MS,
    charts_drawn,
    choose,
    edited,
    generation,
    settle,
    wait_for_run,
)
from tests.browser.test_v2 import UNNAMED

pytestmark = pytest.mark.browser

# Shapley values (8 combinations) and the tornado (35 scenarios) at 3 replications of 104 weeks
# need more than one comparison's time on a busy 2-core machine: this only bounds the wait.
LONG_MS = 6 * RUN_TIMEOUT_MS


def numbers(page: Page, rows: str, attribute: str) -> list[float]:
    """A data attribute of every matching row, as floats."""
    return [float(v) for v in page.eval_on_selector_all(
        rows, f"els => els.map(e => e.dataset.{attribute})")]


def test_explain_why_and_sensitivity(page: Page, app_url: str, artifacts: Path) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(app_url)
    wait_for_run(page, 0)
    settle(page)
    # Pick a plan: cost cutting (three levers) on 3 replications.
    with edited(page):
        choose(page, "spc-preset", "cost_cutting")
    g = generation(page)
    reps = page.locator(".spc-input-replications input")
    reps.fill("3")
    reps.press("Enter")
    wait_for_run(page, g)
    settle(page)
    charts_drawn(page)  # before the tab is left

    page.get_by_role("tab", name="Why & sensitivity").click()
    expect(page.locator(".spc-explain-week")).to_have_text("Week 104 of 104")
    expect(page.locator(".spc-explain")).to_contain_text("the same 3 paired replications")

    # Engagement drivers: every term of the equation, summing exactly to the logit change.
    table = page.locator(".spc-drivers-table")
    expect(table).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(table.locator("tr[data-driver]")).to_have_count(16)
    values = numbers(page, ".spc-drivers-table tr[data-driver]", "value")
    total = numbers(page, ".spc-drivers-table tr[data-total]", "total")[0]
    assert sum(values) == pytest.approx(total, abs=1e-9)
    assert total != 0
    text = table.inner_text()
    for words in ("Tools and resources", "Recognition", "Burnout", "Customer feedback"):
        assert words in text, words
    expect(page.locator(".spc-drivers canvas").first).to_be_visible()
    # Cost cutting cuts resources and recognition: their terms fall.
    by_driver = dict(zip(page.eval_on_selector_all(
        ".spc-drivers-table tr[data-driver]", "els => els.map(e => e.dataset.driver)"), values,
        strict=True))
    assert by_driver["resources"] < 0 and by_driver["recognition"] < 0

    # The chain: twelve nodes, one sentence on the dominant loop.
    sentence = page.locator(".spc-chain-sentence")
    expect(sentence).to_contain_text("week 104")
    assert re.search(r"cycle of (success|failure) dominates|neither loop dominates",
                     sentence.inner_text()), sentence.inner_text()
    expect(page.locator(".spc-chain-table tr[data-node]")).to_have_count(12)
    loop = page.locator(".spc-chain").get_attribute("data-loop")
    assert loop in ("success", "failure", "mixed", "none")
    if loop == "failure":
        assert "cycle of failure" in sentence.inner_text()
    page.screenshot(path=artifacts / "explain-drivers-chain.png", full_page=True)
    # The sticky header would cover the panels' tops in their own screenshots.
    page.add_style_tag(content=".spc-header { position: static !important; }")
    page.locator(".spc-drivers").screenshot(path=artifacts / "explain-drivers.png")
    page.locator(".spc-chain").screenshot(path=artifacts / "explain-chain.png")

    # Another week: both read it.
    page.locator(".spc-explain-week-slider [role=slider]").focus()
    page.keyboard.press("Home")
    expect(page.locator(".spc-explain-week")).to_have_text("Week 1 of 104")
    expect(sentence).to_contain_text("At week 1 ")
    values = numbers(page, ".spc-drivers-table tr[data-driver]", "value")
    total = numbers(page, ".spc-drivers-table tr[data-total]", "total")[0]
    assert sum(values) == pytest.approx(total, abs=1e-9)

    # Every input of the tab has an accessible name.
    unnamed = page.evaluate(UNNAMED)
    assert not unnamed, unnamed[:3]

    # Shapley values of the three changed levers sum to the profit difference on the cards.
    help_text = page.locator(".spc-shapley .spc-panel-help").inner_text()
    assert "3 levers differ" in help_text and "exact" in help_text
    start = time.perf_counter()
    page.locator(".spc-shapley-run").click()
    shapley = page.locator(".spc-shapley-table")
    expect(shapley).to_be_visible(timeout=LONG_MS)
    shapley_s = time.perf_counter() - start
    expect(shapley.locator("tr[data-lever]")).to_have_count(3)
    phis = numbers(page, ".spc-shapley-table tr[data-lever]", "value")
    difference = numbers(page, ".spc-shapley-table tr[data-total]", "total")[0]
    assert sum(phis) == pytest.approx(difference, rel=1e-9, abs=1e-6)
    shown_total = shapley.locator("tr.spc-total td").nth(3).inner_text()
    settle(page)
    expect(page.locator(".spc-explain")).to_contain_text("the same 3 paired replications")
    card = page.locator("[data-kpi=cum_profit] .spc-delta-value").inner_text()
    assert card.startswith(shown_total), (card, shown_total)   # "+$1.2M vs today"
    levers = page.eval_on_selector_all(".spc-shapley-table tr[data-lever]",
                                       "els => els.map(e => e.dataset.lever)")
    assert sorted(levers) == ["recognition", "resources", "training"]
    page.screenshot(path=artifacts / "explain-shapley.png", full_page=True)

    # Tornado over every lever of the schema; largest swing first.
    start = time.perf_counter()
    page.locator(".spc-tornado-run").click()
    rows = page.locator(".spc-tornado-table tr[data-lever]")
    lever_count = sum(1 for s in SPECS.values() if s.role == "lever")
    expect(rows).to_have_count(lever_count, timeout=LONG_MS)
    tornado_s = time.perf_counter() - start
    swings = numbers(page, ".spc-tornado-table tr[data-lever]", "swing")
    assert swings == sorted(swings, reverse=True) and swings[0] > 0
    expect(page.locator(".spc-tornado-top")).to_contain_text(
        "Profit over the horizon: the lever that matters most here is")
    top = page.locator(".spc-tornado-table tr[data-lever]").first.get_attribute("data-lever")
    # Another KPI: read from the same runs at once (the run button stays done).
    choose(page, "spc-tornado-kpi", "Customer satisfaction at the horizon")
    expect(page.locator(".spc-tornado-top")).to_contain_text(
        "Customer satisfaction at the horizon: the lever")
    expect(page.locator(".spc-tornado-run")).to_be_disabled()
    expect(rows).to_have_count(lever_count)
    page.screenshot(path=artifacts / "explain-tornado.png", full_page=True)
    page.locator(".spc-shapley").screenshot(path=artifacts / "explain-shapley-panel.png")
    page.locator(".spc-tornado").screenshot(path=artifacts / "explain-tornado-panel.png")
    load = os.getloadavg()
    with (artifacts / "explain-timing.txt").open("a") as out:
        out.write(f"cost_cutting vs today, 3 reps x 104 weeks, load {load[0]:.1f}: Shapley "
                  f"(8 combinations) {shapley_s:.1f} s, tornado ({lever_count} levers) "
                  f"{tornado_s:.1f} s; most here: {top}\n")
    assert not errors, errors
