"""Save, share, undo, report: saved scenarios survive a reload and a restart, a link reproduces
the view, Undo and Redo (buttons and keys), the confirmation before a timeline is dropped, and the
PDF report, which embeds its state and is made again identically from it.

Each test here serves the page with ``sim app --library DIR`` (the real command line) on a library
of its own. Screenshots go to test-artifacts/ (library-*.png).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
import yaml
from playwright.sync_api import Browser, Page, expect

from sim.app import report
from sim.app.library import ENV
from sim.scenario import parse_scenario
from tests.browser.conftest import ROOT, _free_port, served
from tests.browser.test_explorer import (
    RUN_TIMEOUT_MS,
    card,
    charts_drawn,
    choose,
    download,
    generation,
    settle,
    wait_for_edit,
    wait_for_run,
    wanted,
)

pytestmark = pytest.mark.browser
# The shared server of the other browser tests saves names too: never into the user's library.
os.environ.setdefault(ENV, str(Path(tempfile.gettempdir()) / "sim-test-library"))


@contextmanager
def serve(library: Path) -> Iterator[str]:
    """``sim app --library DIR`` on a free port until the block ends (then SIGTERM)."""
    port = _free_port()
    command = [sys.executable, "-m", "sim.cli", "app", "--port", str(port),
               "--library", str(library)]
    with served(command, ROOT / "test-artifacts" / f"library-server-{port}.log",
                no_traceback=True) as server:
        yield server.url


def open_page(page: Page, url: str) -> None:
    page.goto(url)
    wait_for_run(page, 0)
    settle(page)


def step_lever(page: Page, lever: str = "training", key: str = "ArrowLeft") -> None:
    g, before = generation(page), wanted(page)
    page.locator(f"[data-lever={lever}] [role=slider]").focus()
    page.keyboard.press(key)
    wait_for_edit(page, before)
    wait_for_run(page, g)
    settle(page)  # every replication in, not only the first charts


def query(page: Page) -> str:
    return unquote_plus(page.evaluate("() => location.search"))


def test_saved_scenarios_survive_reload_and_restart(browser: Browser, tmp_path: Path,
                                                    artifacts: Path) -> None:
    library = tmp_path / "library"
    with serve(library) as url:
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        open_page(page, url)
        step_lever(page)
        expect(page.locator(".spc-story-name")).to_have_text("invest in training (modified)")
        charts_drawn(page)  # before the tab is left
        page.get_by_role("tab", name="Files").click()
        name = page.locator(".spc-input-name input")
        # A bad name: one line naming what is allowed; nothing written, nothing lost.
        name.fill("Q3/plan")
        page.get_by_role("button", name="Save name").click()
        expect(page.locator(".spc-panel .spc-error")).to_contain_text("allowed 1 to 60 letters")
        assert name.input_value() == "Q3/plan"
        assert not library.exists() or not list(library.iterdir())
        expect(page.locator(".spc-story-name")).to_have_text("invest in training (modified)")
        name.fill("Q3 plan")
        page.get_by_role("button", name="Save name").click()
        expect(page.locator(".spc-story-name")).to_have_text("Q3 plan")
        expect(page.locator(".spc-preset")).to_contain_text("saved: Q3 plan")
        saved = parse_scenario(yaml.safe_load((library / "Q3 plan.yaml").read_text()))
        assert saved.name == "Q3 plan" and saved.params.training == pytest.approx(0.14)
        assert "preset=saved: Q3 plan" in query(page)
        cards = card(page, "cum_profit")
        link = page.url
        # A reload keeps the view (the address is a link to it).
        page.reload()
        wait_for_run(page, 0)
        expect(page.locator(".spc-story-name")).to_have_text("Q3 plan")
        assert card(page, "cum_profit") == cards
        # Listed beside the presets, as a comparator and as a plan to compare.
        page.locator(".spc-baseline").click()
        expect(page.locator(".v-menu__content .v-list-item",
                            has_text="saved: Q3 plan")).to_have_count(1)
        page.keyboard.press("Escape")
        page.screenshot(path=artifacts / "library-saved.png")
        page.close()
        assert not errors, errors
    with serve(library) as url:                 # a restarted server, the same library
        page = browser.new_page()
        open_page(page, url + "?" + link.split("?", 1)[1])
        expect(page.locator(".spc-story-name")).to_have_text("Q3 plan")
        assert card(page, "cum_profit") == cards
        open_page(page, url)
        choose(page, "spc-preset", "saved: Q3 plan")
        expect(page.locator(".spc-story-name")).to_have_text("Q3 plan")
        page.close()


def test_a_link_reproduces_the_view_and_bad_values_fall_back(page: Page, app_url: str,
                                                             artifacts: Path) -> None:
    open_page(page, app_url)
    before = wanted(page)
    choose(page, "spc-baseline", "employees_first")
    wait_for_edit(page, before)
    settle(page)
    step_lever(page, "recognition", "ArrowRight")
    page.get_by_role("tab", name="Investment").click()
    expect(page.locator(".spc-roi-verdict")).to_be_visible()
    shown = {k: card(page, k) for k in ("engagement_mean", "cum_profit")}
    here = query(page)
    for part in ("preset=invest_in_training", "recognition=", "vs=employees_first", "tab=1"):
        assert part in here, (part, here)
    other = page.context.new_page()
    open_page(other, page.url)
    expect(other.locator(".spc-story-vs")).to_have_text("vs employees first")
    expect(other.get_by_role("tab", name="Investment")).to_have_attribute("aria-selected", "true")
    # the link applies the preset, then its edits: wait for the run with every edit in
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    while {k: card(other, k) for k in shown} != shown and time.monotonic() < deadline:
        other.wait_for_timeout(500)
    linked = {k: card(other, k) for k in shown}
    assert linked == shown, (linked, shown)
    # Bad values: one line naming each, the rest applies, no traceback.
    other.goto(app_url + "?training=7&weeks=52&tab=99&vs=nobody&timeline=[oops")
    wait_for_run(other, 0)
    notice = other.locator(".spc-notice")
    for words in ("training='7' ignored", "tab='99' ignored", "vs='nobody' ignored",
                  "timeline="):
        expect(notice).to_contain_text(words)
    assert "\n" not in notice.inner_text().strip()
    assert "Traceback" not in other.locator("body").inner_text()
    expect(other.locator(".spc-card-base").first).to_contain_text("today")
    assert "weeks=52" in query(other)
    other.screenshot(path=artifacts / "library-bad-link.png")
    other.close()


def test_undo_redo_and_confirmation_before_a_timeline_is_dropped(page: Page, app_url: str,
                                                                 artifacts: Path) -> None:
    open_page(page, app_url)
    title = page.locator(".spc-story-name")
    undo, redo = page.locator(".spc-undo"), page.locator(".spc-redo")

    def press(button, then: str) -> None:
        expect(button).to_have_attribute("aria-disabled", "false")
        button.click()
        expect(title).to_have_text(then)

    expect(undo).to_have_attribute("aria-disabled", "true")
    step_lever(page)
    expect(title).to_have_text("invest in training (modified)")
    press(undo, "invest in training")
    press(redo, "invest in training (modified)")
    page.locator(".spc-title").click()            # keys outside any text field
    page.keyboard.press("Control+z")
    expect(title).to_have_text("invest in training")
    page.keyboard.press("Control+Shift+z")
    expect(title).to_have_text("invest in training (modified)")
    page.keyboard.press("Control+z")
    expect(title).to_have_text("invest in training")
    settle(page)

    # An edited timeline is not dropped by a preset switch without a yes.
    page.get_by_role("tab", name="Timeline").click()
    page.locator(".spc-input-week input").fill("20")
    page.locator(".spc-add-event").click()
    expect(page.locator(".spc-event")).to_have_count(1)
    choose(page, "spc-preset", "employees_first")
    dialog = page.locator(".v-dialog--active")
    expect(dialog).to_contain_text("Discard the timeline?")
    page.screenshot(path=artifacts / "library-confirm.png")
    dialog.get_by_role("button", name="Keep editing").click()
    expect(page.locator(".spc-preset")).to_contain_text("invest_in_training")
    expect(page.locator(".spc-event")).to_have_count(1)
    choose(page, "spc-preset", "employees_first")
    dialog.get_by_role("button", name="Discard timeline").click()
    expect(title).to_have_text("employees first")
    expect(page.locator(".spc-event")).to_have_count(0)
    press(undo, "invest in training (modified)")   # ... and Undo brings it back
    expect(page.locator(".spc-event")).to_have_count(1)
    expect(page.locator(".spc-preset")).to_contain_text("invest_in_training")


def test_report_download_reproduces(page: Page, app_url: str, artifacts: Path,
                                    tmp_path: Path) -> None:
    open_page(page, app_url)
    page.get_by_role("tab", name="Timeline").click()
    page.locator(".spc-input-week input").fill("30")
    g = generation(page)
    page.locator(".spc-add-event").click()
    wait_for_run(page, g)
    page.get_by_role("tab", name="Files").click()
    first = tmp_path / "first.pdf"
    name = download(page, "Download report (PDF)", first)
    assert name == "invest_in_training-modified-report.pdf"
    pdf = first.read_bytes()
    (artifacts / "library-report.pdf").write_bytes(pdf)
    state = report.embedded_state(pdf)
    assert parse_scenario(yaml.safe_load(state["scenario"])).timeline
    assert "invest_in_training" in state["link"] and "timeline=" in state["link"]
    # The embedded link opens the same view; its report is the same, byte for byte.
    other = page.context.new_page()
    open_page(other, app_url + "?" + state["link"])
    other.get_by_role("tab", name="Files").click()
    second = tmp_path / "second.pdf"
    download(other, "Download report (PDF)", second)
    assert second.read_bytes() == pdf
    other.close()
