"""End to end: a strategist's session in a real browser, from preset to exported files.

One test walks the whole story so a single page server (and one browser) serves it; screenshots of
each state land in test-artifacts/.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from playwright.sync_api import Page, expect

from sim.app.charts import CHART_KPIS, MEASURES
from sim.app.state import END_WEEKS, FLOWS

pytestmark = pytest.mark.browser
RUN_TIMEOUT_MS = 90_000


def generation(page: Page) -> int:
    return int(page.locator(".spc-status").get_attribute("data-generation") or 0)


def download(page: Page, button: str, to: Path | None = None) -> str:
    """Click the download ``button``; save the file to ``to`` if given; its suggested name."""
    with page.expect_download() as info:
        page.get_by_role("button", name=button).click()
    if to is not None:
        info.value.save_as(to)
    return info.value.suggested_filename


# JavaScript, of the status element ``s``: nothing runs, and the KPI cards show the finished
# comparison of the settings on screen (the page's fingerprints of both).
SETTLED = ("s.dataset.running === 'false'"
           " && document.querySelector('.spc-cards')?.dataset.shown === s.dataset.wanted")


def wait_for_run(page: Page, after: int) -> float:
    """Wait until a comparison newer than ``after``, of the settings on screen, is on the page;
    return seconds waited."""
    start = time.perf_counter()
    page.wait_for_function(
        "g => { const s = document.querySelector('.spc-status');"
        f" return s && Number(s.dataset.generation) > g && {SETTLED}; }}",
        arg=after, timeout=RUN_TIMEOUT_MS)
    return time.perf_counter() - start


def settle(page: Page) -> None:
    """Wait until no comparison runs and the one shown is of the settings on screen."""
    page.wait_for_function(
        f"() => {{ const s = document.querySelector('.spc-status'); return s && {SETTLED}; }}",
        timeout=RUN_TIMEOUT_MS)


def charts_drawn(page: Page) -> None:
    """Wait until every chart of the first tab is drawn.

    Solara's ECharts component loads echarts.js on mount, then draws into its element: a chart
    removed before that load ends (its tab left, its page reloaded) throws "Initialize failed:
    invalid dom" in the browser. That race is Solara's; the tests check the page's own errors.
    """
    expect(page.locator("[data-chart] canvas")).to_have_count(len(CHART_KPIS))


def wanted(page: Page) -> str:
    """The page's fingerprint of the settings on screen (scenario and comparator)."""
    return page.locator(".spc-status").get_attribute("data-wanted") or ""


def wait_for_edit(page: Page, before: str) -> None:
    """Wait until the server has taken an edit (its settings differ from ``before``)."""
    page.wait_for_function("w => document.querySelector('.spc-status')?.dataset.wanted !== w",
                           arg=before, timeout=RUN_TIMEOUT_MS)


@contextmanager
def edited(page: Page) -> Iterator[None]:
    """Around an edit of the settings: then wait until the server has taken it and the page
    shows a finished comparison of it (not of the settings before, whose run may still end)."""
    g, before = generation(page), wanted(page)
    yield
    wait_for_edit(page, before)
    wait_for_run(page, g)


def card(page: Page, key: str) -> tuple[str, str]:
    box = page.locator(f"[data-kpi={key}]")
    return box.locator(".spc-card-value").inner_text(), box.locator(".spc-delta-value").inner_text()


def choose(page: Page, select_class: str, option: str) -> None:
    page.locator(f".{select_class}").click()
    page.locator(".v-menu__content .v-list-item", has_text=option).first.click()


def test_strategist_session(page: Page, app_url: str, artifacts: Path, tmp_path: Path) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(app_url)
    wait_for_run(page, 0)
    expect(page.locator(".spc-card")).to_have_count(8)
    # Engagement, CSAT and NPS also say what the company's surveys read, with their margin.
    expect(page.locator(".spc-card-survey")).to_have_count(3)
    expect(page.locator("[data-kpi=engagement_mean] .spc-card-survey")).to_contain_text(
        re.compile(r"as surveyed: \d+\.\d ± \d+\.\d"))
    charts_drawn(page)
    page.screenshot(path=artifacts / "01-loaded.png", full_page=True)

    # Choose a preset: the story and the numbers change.
    before = card(page, "cum_profit")
    with edited(page):
        choose(page, "spc-preset", "employees_first")
        expect(page.locator(".spc-story-name")).to_have_text("employees first")
    assert card(page, "cum_profit") != before

    # Move a lever with the keyboard: values stay in range, charts and deltas update.
    before = card(page, "cum_profit")
    thumb = page.locator("[data-lever=training] .v-slider__thumb-container")
    thumb.focus()
    g = generation(page)
    start = time.perf_counter()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "old => document.querySelector('[data-kpi=cum_profit] .spc-card-value').innerText != old",
        arg=before[0], timeout=RUN_TIMEOUT_MS)
    first = time.perf_counter() - start
    wait_for_run(page, g)
    elapsed = time.perf_counter() - start
    after = card(page, "cum_profit")
    assert after != before
    value = page.locator("[data-lever=training] .spc-lever-value").inner_text()
    assert float(value.split()[0]) <= 0.25
    timing = (f"lever change to first updated charts: {first:.2f} s; "
              f"to all replications: {elapsed:.2f} s; page says: "
              f"{page.locator('.spc-status-text').inner_text()}\n")
    (artifacts / "timing.txt").write_text(timing)
    print(timing)
    page.screenshot(path=artifacts / "02-lever-moved.png", full_page=True)

    # The Run button re-runs (cached replications make it immediate).
    g = generation(page)
    page.locator(".spc-run").click()
    wait_for_run(page, g)

    # Add an intervention: at week 26 set training to 0.2.
    page.get_by_role("tab", name="Timeline").click()
    page.locator(".spc-input-week input").fill("26")
    page.locator(".spc-input-value input").fill("0.2")
    g = generation(page)
    page.locator(".spc-add-event").click()
    expect(page.locator(".spc-event")).to_have_count(1)
    expect(page.locator(".spc-event").first).to_contain_text("Week 26")
    wait_for_run(page, g)
    page.screenshot(path=artifacts / "03-intervention.png", full_page=True)

    page.get_by_role("tab", name="Investment").click()
    expect(page.locator(".spc-roi-verdict")).to_be_visible()
    page.screenshot(path=artifacts / "04-investment.png", full_page=True)

    # Export the scenario and the results; `sim run` on the YAML reproduces the page's numbers.
    page.get_by_role("tab", name="Files").click()
    scenario_file = tmp_path / "scenario.yaml"
    download(page, "Export scenario YAML", scenario_file)
    csv_file = tmp_path / "results.csv"
    download(page, "Export results CSV", csv_file)
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "sim.cli", "run", str(scenario_file), "--out", str(out),
                    "--quiet"], check=True, timeout=300)
    rerun = pd.read_parquet(out / "timeseries.parquet")
    shown = pd.read_csv(csv_file)
    assert set(shown["run"]) == {"plan", "comparator"}
    assert set(shown.loc[shown["run"] == "comparator", "name"]) == {"today"}
    shown = shown[shown["run"] == "plan"].drop(columns=["run", "name"]).reset_index(drop=True)
    numeric = [c for c in rerun.columns if pd.api.types.is_numeric_dtype(rerun[c])]
    np.testing.assert_allclose(shown[numeric].to_numpy(float), rerun[numeric].to_numpy(float),
                               rtol=1e-12, atol=1e-9)
    for key in ("customers_active", "cum_profit", "csat"):
        weeks = END_WEEKS if key in FLOWS else 1
        last = rerun.groupby("replication")[key].apply(lambda s, w=weeks: s.iloc[-w:].mean())
        assert card(page, key)[0] == MEASURES[key].fmt(float(last.mean()))
    page.screenshot(path=artifacts / "05-files.png", full_page=True)

    # A bad upload gives one plain line, and the page keeps working.
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: too_much\nparams:\n  training: 7\n")
    page.locator("input[data-testid=yaml-input]").set_input_files(bad)
    notice = page.locator(".spc-notice")
    expect(notice).to_contain_text("training")
    expect(notice).to_contain_text("out of range")
    assert "\n" not in notice.inner_text().strip()
    broken = tmp_path / "broken.yaml"
    broken.write_text("params: [unclosed\n")
    page.locator("input[data-testid=yaml-input]").set_input_files(broken)
    expect(notice).to_contain_text("malformed YAML")
    assert "Traceback" not in page.locator("body").inner_text()
    page.screenshot(path=artifacts / "06-bad-upload.png", full_page=True)

    # A good upload replaces the scenario.
    page.locator("input[data-testid=yaml-input]").set_input_files(scenario_file)
    expect(page.locator(".spc-info")).to_contain_text("Loaded scenario.yaml")
    expect(notice).to_have_count(0)

    # Inside the organisation: step the first replication and watch the network.
    page.get_by_role("tab", name="Inside the organisation").click()
    expect(page.locator(".spc-week")).to_contain_text("week 0")
    page.get_by_role("button", name="Step").click()
    expect(page.locator(".spc-week")).to_contain_text("week 1")
    page.get_by_role("button", name="Play").click()
    expect(page.locator(".spc-week")).to_have_text(re.compile(r"week ([2-9]|\d\d+) of"),
                                                   timeout=RUN_TIMEOUT_MS)
    page.get_by_role("button", name="Pause").click()
    page.screenshot(path=artifacts / "07-inside.png", full_page=True)
    assert not errors, errors
