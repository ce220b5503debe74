"""Version 2 of the strategist's page: honest labels, the investment view and the profit bridge.

Screenshots go to test-artifacts/ (v2-*.png); the latency of a lever change (one user) to
test-artifacts/latency.txt with the machine's load.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Page, expect

from sim.app.invest import COST_LINES
from tests.browser.test_explorer import (
    RUN_TIMEOUT_MS,
    charts_drawn,
    choose,
    download,
    edited,
    generation,
    settle,
    wait_for_run,
)

pytestmark = pytest.mark.browser


# Inputs and sliders of the page without an aria-label (their outer HTML).
UNNAMED = """() => [...document.querySelectorAll(
    '.spc-app input:not([type=hidden]):not([type=file]), .spc-app [role=slider]')]
    .filter(e => !(e.getAttribute('aria-label') || '').trim()).map(e => e.outerHTML)"""


def test_labels_name_the_comparator_and_the_plan(page: Page, app_url: str, artifacts: Path,
                                                 tmp_path: Path) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(app_url)
    wait_for_run(page, 0)
    # Default comparator: today, named on every card.
    expect(page.locator(".spc-story-vs")).to_have_text("vs today")
    deltas = page.locator(".spc-delta-value")
    expect(deltas).to_have_count(8)
    for text in deltas.all_inner_texts():
        assert text.endswith("vs today"), text
    assert "baseline" not in page.locator(".spc-cards").inner_text()

    # Every input has an accessible name, sliders included.
    unnamed = page.evaluate(UNNAMED)
    assert not unnamed, unnamed[:3]
    assert page.locator("[data-lever=training] [role=slider]").get_attribute("aria-label") \
        .startswith("Training")

    # Another comparator: the cards say which.
    with edited(page):
        choose(page, "spc-baseline", "employees_first")
    for text in deltas.all_inner_texts():
        assert text.endswith("vs employees first"), text

    # A lever moved: the plan is "<preset> (modified)", also in the exported file's name.
    g = generation(page)
    page.locator("[data-lever=training] [role=slider]").focus()
    page.keyboard.press("ArrowLeft")
    expect(page.locator(".spc-story-name")).to_have_text("invest in training (modified)")
    wait_for_run(page, g)
    charts_drawn(page)  # before the tab is left
    page.get_by_role("tab", name="Files").click()
    exported = tmp_path / "plan.yaml"
    assert download(page, "Export scenario YAML", exported) == "invest_in_training-modified.yaml"
    assert yaml.safe_load(exported.read_text())["name"] == "invest_in_training (modified)"
    # ... until saved under a name.
    page.locator(".spc-input-name input").fill("slow training")
    page.get_by_role("button", name="Save name").click()
    expect(page.locator(".spc-story-name")).to_have_text("slow training")
    assert download(page, "Export scenario YAML") == "slow_training.yaml"
    settle(page)

    # The header's run time is the last run's, from its own start: the idle pause before the
    # re-run (from the cache) is not counted in it.
    g = generation(page)
    time.sleep(5)
    page.locator(".spc-run").click()
    wait_for_run(page, g)
    status = page.locator(".spc-status-text").inner_text()
    seconds = float(status.split("replications ")[1].split(" s")[0])
    assert seconds < 5, status

    # A refused number does not stay displayed.
    employees = page.locator(".spc-input-employees input")
    shown = employees.input_value()
    employees.fill("99999999")
    employees.press("Enter")
    expect(page.locator(".spc-size .spc-error")).to_contain_text("99,999,999")
    expect(page.locator(".spc-input-employees input")).to_have_value(shown)

    # An uploaded file: the preset box shows its name; without reps the page says what runs.
    plan = tmp_path / "no_reps.yaml"
    plan.write_text("name: no_reps\nbase: employees_first\nsteps: 26\n")
    g = generation(page)
    page.locator("input[data-testid=yaml-input]").set_input_files(plan)
    expect(page.locator(".spc-preset")).to_contain_text("file: no_reps.yaml")
    info = page.locator(".spc-info")
    expect(info).to_contain_text("the file sets no reps: it runs")
    expect(info).to_contain_text("replication")
    wait_for_run(page, g)

    # A self-comparison: nothing to pay back, and no "$0".
    with edited(page):
        choose(page, "spc-preset", "baseline")
    with edited(page):
        choose(page, "spc-baseline", "today")
    page.get_by_role("tab", name="Investment").click()
    verdict = page.locator(".spc-roi-verdict")
    expect(verdict).to_contain_text("No difference to pay back")
    assert "$0" not in verdict.inner_text()
    page.screenshot(path=artifacts / "v2-self-comparison.png")
    assert not errors, errors


def test_investment_view_and_profit_bridge(page: Page, app_url: str, artifacts: Path) -> None:
    page.goto(app_url)
    wait_for_run(page, 0)
    settle(page)
    page.get_by_role("tab", name="Investment").click()
    rows = page.locator(".spc-invest-row")
    expect(rows).to_have_count(6)
    text = page.locator(".spc-invest").text_content() or ""
    for words in ("NPV at 8.0%/year", "ROI", "Payback week", "P(beats today)",
                  "replications", "an estimate from 5 replications"):
        assert words in text, words
    expect(page.locator(".spc-costs tbody tr")).to_have_count(len(COST_LINES))
    costs = page.locator(".spc-costs").inner_text()
    for line in COST_LINES.values():
        assert line in costs
    npv = page.locator(".spc-invest-row").nth(1).locator(".spc-invest-value").inner_text()
    rate = page.locator(".spc-input-rate input")
    rate.fill("30")
    rate.press("Enter")
    expect(page.locator(".spc-invest-row").nth(1)).to_contain_text("NPV at 30.0%/year")
    expect(page.locator(".spc-invest-row").nth(1).locator(".spc-invest-value")).not_to_have_text(npv)
    rate.fill("400")
    rate.press("Enter")
    expect(page.locator(".spc-error")).to_contain_text("discount rate")
    expect(page.locator(".spc-input-rate input")).to_have_value("30.0")
    page.screenshot(path=artifacts / "v2-investment.png", full_page=True)

    page.get_by_role("tab", name="Profit bridge").click()
    table = page.locator(".spc-bridge")
    # the comparator's profit, revenue's three factors, each cost line, the plan's profit
    expect(table.locator("tbody tr")).to_have_count(len(COST_LINES) + 5)
    for words in ("customers", "visits per customer", "spend per visit", "LMDI"):
        expect(page.locator(".spc-main")).to_contain_text(words)
    page.screenshot(path=artifacts / "v2-bridge.png", full_page=True)


def test_latency_of_a_lever_change(page: Page, app_url: str, artifacts: Path) -> None:
    """One user: lever change to the first updated card and to all cards (measured, logged)."""
    page.goto(app_url)
    wait_for_run(page, 0)
    settle(page)
    results = []
    for direction in ("ArrowRight", "ArrowRight", "ArrowRight"):  # new settings, not cached
        before = page.locator("[data-kpi=cum_profit] .spc-card-value").inner_text()
        g = generation(page)
        page.locator("[data-lever=recognition] [role=slider]").focus()
        start = time.perf_counter()
        page.keyboard.press(direction)
        page.wait_for_function(
            "old => document.querySelector('[data-kpi=cum_profit] .spc-card-value')"
            ".innerText != old", arg=before, timeout=RUN_TIMEOUT_MS)
        first = time.perf_counter() - start
        wait_for_run(page, g)
        results.append((first, time.perf_counter() - start))
    load = os.getloadavg()
    line = (f"lever change, one user, 2 cores, load average {load[0]:.1f}/{load[1]:.1f}: "
            + "; ".join(f"first card {f:.2f} s, all cards {a:.2f} s" for f, a in results))
    print(line)
    with (artifacts / "latency.txt").open("a") as out:
        out.write(line + "\n")


def test_compare_several_plans(page: Page, app_url: str, artifacts: Path,
                               tmp_path: Path) -> None:
    page.goto(app_url)
    wait_for_run(page, 0)
    settle(page)
    # A loaded file is one of the choices (loading it also makes it the current edit).
    plan = tmp_path / "people_plan.yaml"
    plan.write_text("name: people_plan\nbase: baseline\nsteps: 104\nreps: 5\n"
                    "params:\n  recognition: 0.8\n")
    page.get_by_role("tab", name="Files").click()
    g = generation(page)
    page.locator("input[data-testid=yaml-input]").set_input_files(plan)
    wait_for_run(page, g)
    choose(page, "spc-preset", "invest_in_training")
    settle(page)
    page.get_by_role("tab", name="Compare plans").click()
    page.locator(".spc-plans").click()
    for option in ("employees_first", "cost_cutting", "file: people_plan.yaml"):
        page.locator(".menuable__content__active .v-list-item", has_text=option).first.click()
    page.keyboard.press("Escape")
    for option in ("current: invest_in_training", "employees_first", "cost_cutting",
                   "people_plan.yaml"):
        expect(page.locator(".spc-plans")).to_contain_text(option)
    expect(page.locator("[data-picked]")).to_have_attribute("data-picked", "4")   # server has them
    page.locator(".spc-compare").click()
    table = page.locator(".spc-ranked")
    expect(table.locator("tbody tr")).to_have_count(4, timeout=RUN_TIMEOUT_MS)
    text = table.inner_text()
    for words in ("invest in training", "employees first", "cost cutting",
                  "file: people plan.yaml", "P(BEATS TODAY)"):
        assert words.lower() in text.lower(), words
    profits = [row.locator("td").nth(2).inner_text().split("\n")[0]
               for row in table.locator("tbody tr").all()]

    def dollars(text: str) -> float:
        scale = {"k": 1e3, "M": 1e6}.get(text[-1], 1)
        return float(text.replace("$", "").rstrip("kM").replace(",", "")) * scale

    values = [dollars(p) for p in profits]
    assert values == sorted(values, reverse=True), profits
    expect(page.locator(".spc-main canvas").last).to_be_visible()
    page.screenshot(path=artifacts / "v2-compare-plans.png", full_page=True)


def test_layout_at_1024_and_390_px(browser, app_url: str, artifacts: Path) -> None:
    tabs = ("Trajectories", "Investment", "Profit bridge", "Compare plans", "Timeline",
            "Inside the organisation", "Files")
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    try:
        page = context.new_page()
        page.goto(app_url)
        wait_for_run(page, 0)
        for name in tabs:        # every tab on screen and clickable, no scrolling of the bar
            tab = page.get_by_role("tab", name=name)
            box = tab.bounding_box()
            assert box and 0 <= box["x"] and box["x"] + box["width"] <= 1024, (name, box)
            tab.click()
            expect(tab).to_have_attribute("aria-selected", "true")
            page.wait_for_timeout(300)
            unnamed = page.evaluate(UNNAMED)   # every tab's inputs have accessible names too
            assert not unnamed, (name, unnamed[:3])
        page.get_by_role("tab", name="Trajectories").click()
        page.screenshot(path=artifacts / "v2-1024.png")
    finally:
        context.close()
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    try:
        page = context.new_page()
        page.goto(app_url)
        wait_for_run(page, 0)
        settle(page)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 391, f"the page scrolls sideways at 390 px ({width} px wide)"
        cards = page.locator(".spc-card")
        expect(cards).to_have_count(8)
        first = cards.first.bounding_box()
        assert first and first["y"] < 844, "the summary cards should be on the first screen"
        for i in range(8):
            box = cards.nth(i).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390 and \
                box["width"] >= 150, box
        page.screenshot(path=artifacts / "v2-390.png")
        size = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector("
                             "'.spc-card-value')).fontSize)")
        assert size >= 16
        chart = page.locator("[data-chart] canvas").first
        chart.scroll_into_view_if_needed()
        box = chart.bounding_box()
        assert box and box["width"] >= 300 and box["x"] + box["width"] <= 390, box
        for name in tabs:
            tab = page.get_by_role("tab", name=name)
            box = tab.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, (name, box)
        page.screenshot(path=artifacts / "v2-390-charts.png")
    finally:
        context.close()
