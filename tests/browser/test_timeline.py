"""Timeline shortcuts in the browser: "for N weeks, then restore" and ramps, readable lever names
with units, the structural lever explained, a refused number replaced, and the scenario file.

Screenshots: test-artifacts/timeline-*.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Page, expect

from tests.browser.test_explorer import (
    RUN_TIMEOUT_MS,
    charts_drawn,
    choose,
    generation,
    wait_for_run,
)

pytestmark = pytest.mark.browser


def add(page: Page, week: int, lever: str, value: float, how: str, extent: int | None) -> None:
    """Fill the timeline form and add the row (waits for the new comparison)."""
    choose(page, "spc-input-lever", lever)
    choose(page, "spc-input-how", how)
    for cls, number in (("week", week), ("value", value), ("extent", extent)):
        if number is not None:       # Enter commits the number, as a keyboard user does
            field = page.locator(f".spc-input-{cls} input")
            field.fill(str(number))
            field.press("Enter")
            expect(field).to_have_value(str(number))
    g = generation(page)
    page.locator(".spc-add-event").click()
    wait_for_run(page, g)


def test_for_n_weeks_and_ramp_in_the_page(page: Page, app_url: str, artifacts: Path) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(app_url)
    wait_for_run(page, 0)
    charts_drawn(page)  # before the tab is left
    page.get_by_role("tab", name="Timeline").click()
    # Readable lever names with units, from the schema; the structural lever is explained.
    page.locator(".spc-input-lever").click()
    menu = page.locator(".menuable__content__active .v-list-item")
    expect(menu.filter(has_text="Pay level (x market wage)")).to_have_count(1)
    expect(menu.filter(has_text="Span of control")).to_have_count(0)
    page.keyboard.press("Escape")
    expect(page.locator(".spc-fixed-lever")).to_contain_text("Span of control cannot be "
                                                             "scheduled: it is structural")

    add(page, 10, "Training (share of paid time)", 0.2, "for N weeks, then restore", 8)
    add(page, 30, "Resources (index 0-1)", 0.9, "ramp linearly until week", 40)
    rows = page.locator(".spc-event")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("set training to 0.2 share of paid time for 8 weeks, "
                                        "then restore (week 18)")
    expect(rows.nth(1)).to_contain_text("ramp resources linearly to 0.9 index 0-1 by week 40")

    # A refused number does not stay: N = 0 is refused and the input shows a valid one.
    choose(page, "spc-input-how", "for N weeks, then restore")
    for cls, text in (("week", "50"), ("extent", "0")):
        page.locator(f".spc-input-{cls} input").fill(text)
        page.locator(f".spc-input-{cls} input").press("Enter")
    page.locator(".spc-add-event").click()
    expect(page.locator(".spc-panel .spc-error")).to_contain_text("for N weeks: 0 refused")
    expect(page.locator(".spc-input-extent input")).to_have_value("8")
    expect(rows).to_have_count(2)
    page.screenshot(path=artifacts / "timeline-editor.png", full_page=True)

    # The chart marks them; the scenario file has the compact entries.
    page.get_by_role("tab", name="Trajectories").click()
    charts_drawn(page)  # then the tab is left again
    page.screenshot(path=artifacts / "timeline-chart.png", full_page=True)
    page.get_by_role("tab", name="Files").click()
    data = yaml.safe_load(page.locator(".spc-yaml").inner_text())
    assert data["timeline"] == [
        {"week": 10, "set": {"training": 0.2}, "for_weeks": 8},
        {"week": 30, "ramp": {"resources": 0.9}, "to_week": 40}]

    # Editing a row keeps its kind; removing it re-runs.
    page.get_by_role("tab", name="Timeline").click()
    page.locator(".spc-event-edit").nth(1).click()
    expect(page.locator(".spc-input-how")).to_contain_text("ramp linearly until week")
    expect(page.locator(".spc-input-extent input")).to_have_value("40")
    g = generation(page)
    page.locator(".spc-event-remove").nth(0).click()
    expect(rows).to_have_count(1)
    page.wait_for_function("g => Number(document.querySelector('.spc-status').dataset."
                           "generation) > g", arg=g, timeout=RUN_TIMEOUT_MS)
    assert not errors, errors
