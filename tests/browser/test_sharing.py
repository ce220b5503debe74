"""The page as a shared server: its limits hold for uploads, and one user cannot block another.

Numbers measured here (latencies, cancel time, server memory) go to test-artifacts/sharing.txt.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from sim.app.limits import LIMITS
from tests.browser.conftest import Server, rss_mb
from tests.browser.test_explorer import RUN_TIMEOUT_MS, generation, wait_for_run

pytestmark = pytest.mark.browser
# (employees + customers) x weeks x replications x 2 = 436,800,000: just inside the work limit.
HEAVY = ("name: heavy\nsteps: 104\nreps: 5\n"
         f"params:\n  n_employees: {LIMITS.max_employees}\n"
         f"  n_customers: {LIMITS.max_customers}\n")


def note(artifacts: Path, text: str) -> None:
    print(text)
    with (artifacts / "sharing.txt").open("a") as out:
        out.write(text + "\n")


def upload(page: Page, path: Path) -> None:
    page.locator("input[data-testid=yaml-input]").set_input_files(path)


def running(page: Page) -> bool:
    return page.locator(".spc-status").get_attribute("data-running") == "true"


def move_lever(page: Page) -> tuple[float, float]:
    """Press the training slider's right arrow; seconds to the first and to the final cards."""
    before = page.locator("[data-kpi=cum_profit] .spc-card-value").inner_text()
    g = generation(page)
    page.locator("[data-lever=training] .v-slider__thumb-container").focus()
    start = time.perf_counter()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "old => document.querySelector('[data-kpi=cum_profit] .spc-card-value').innerText != old",
        arg=before, timeout=RUN_TIMEOUT_MS)
    first = time.perf_counter() - start
    wait_for_run(page, g)
    return first, time.perf_counter() - start


def test_oversized_uploads_are_refused_and_nothing_runs(page: Page, app_server: Server,
                                                        artifacts: Path, tmp_path: Path) -> None:
    page.goto(app_server.url)
    wait_for_run(page, 0)
    page.get_by_role("tab", name="Files").click()
    name = page.locator(".spc-story-name").inner_text()
    g = generation(page)
    rss_before = rss_mb(app_server.proc.pid)
    files = {  # the three files of issue 9, and one over the work limit
        "customers.yaml": ("params:\n  n_customers: 10000000\n", "n_customers=10,000,000",
                           f"{LIMITS.max_customers:,}"),
        "reps.yaml": ("reps: 1000\n", "reps=1,000", f"{LIMITS.max_reps:,}"),
        "weeks.yaml": ("steps: 1000\n", "steps=1,000", f"{LIMITS.max_weeks:,}"),
        "work.yaml": (HEAVY.replace("steps: 104", "steps: 520"), "agent-weeks=",
                      f"{LIMITS.max_agent_weeks:,}"),
    }
    notice = page.locator(".spc-notice")
    for file, (text, value, maximum) in files.items():
        path = tmp_path / file
        path.write_text(text)
        upload(page, path)
        expect(notice).to_contain_text(f"{file}: {value}")
        expect(notice).to_contain_text(maximum)
        assert "\n" not in notice.inner_text().strip()
        assert not running(page)
    time.sleep(1.0)
    assert not running(page) and generation(page) == g
    assert page.locator(".spc-story-name").inner_text() == name
    busy = app_server.busy(0.5)
    grown = rss_mb(app_server.proc.pid) - rss_before
    note(artifacts, f"refused uploads: workers used {busy:.2f} CPU s/s afterwards; "
                    f"server RSS grew {grown:+.1f} MB")
    assert busy < 0.3
    assert grown < 50


def test_a_heavy_run_does_not_block_another_user(browser: Browser, app_server: Server,
                                                 artifacts: Path, tmp_path: Path) -> None:
    size = {"viewport": {"width": 1440, "height": 1000}}
    alice, bob = browser.new_context(**size), browser.new_context(**size)
    try:
        a, b = alice.new_page(), bob.new_page()
        a.goto(app_server.url)
        b.goto(app_server.url)
        wait_for_run(a, 0)
        wait_for_run(b, 0)
        alone = move_lever(b)
        rss_idle = rss_mb(app_server.proc.pid)

        # Alice loads a heavy but allowed scenario: it fills both workers.
        heavy = tmp_path / "heavy.yaml"
        heavy.write_text(HEAVY)
        a.get_by_role("tab", name="Files").click()
        upload(a, heavy)
        expect(a.locator(".spc-info")).to_contain_text("Loaded heavy.yaml")
        expect(a.locator(".spc-status")).to_have_attribute("data-running", "true")
        deadline = time.monotonic() + 10
        while app_server.busy() < 1.2 and time.monotonic() < deadline:
            pass
        expect(a.locator(".spc-status-text")).to_contain_text("Running")

        # Bob's lever change still reaches his cards within a few seconds.
        shared = move_lever(b)
        assert running(a), "Alice's heavy run should still be going"
        text = a.locator(".spc-status-text").inner_text()

        # Alice cancels: her page says so and the workers are free at once.
        start = time.perf_counter()
        a.locator(".spc-cancel").click()
        expect(a.locator(".spc-status")).to_have_attribute("data-running", "false")
        shown = time.perf_counter() - start
        while app_server.busy(0.2) > 0.3 and time.perf_counter() - start < 10:
            pass
        idle = time.perf_counter() - start
        expect(a.locator(".spc-info")).to_contain_text("Run cancelled")
        rss_heavy = rss_mb(app_server.proc.pid)
        note(artifacts,
             f"lever change, one user: first cards {alone[0]:.2f} s, all {alone[1]:.2f} s; "
             f"while another user's heavy run fills the workers: first {shared[0]:.2f} s, "
             f"all {shared[1]:.2f} s\n"
             f"heavy run's status: {text}\n"
             f"cancel: page shows it after {shown:.2f} s, workers idle after {idle:.2f} s\n"
             f"server process RSS: {rss_idle:.0f} MB before, {rss_heavy:.0f} MB after")
        # Bob's cards came while Alice's run went on (asserted above): no waiting behind it.
        assert app_server.busy(0.2) <= 0.3, f"workers still busy {idle:.1f} s after Cancel"
    finally:
        alice.close()
        bob.close()
