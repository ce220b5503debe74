"""Measure the explorer's memory with two busy sessions, and after they go (run by hand).

    .venv/bin/python tests/browser/measure_sessions.py [--after SECONDS]

Starts ``sim app`` on a free port (with a throwaway start cache), opens two sessions in two
separate Chromium processes, and samples the resident memory of the server process and of all its
processes (fork server, workers, resource tracker) while

1. both pages load;
2. user A runs a heavy but allowed scenario (the page's largest sizes) and user B moves a lever
   again and again, opens the inside view and loads a mid-sized scenario;
3. A closes her tab normally, B's browser is killed (no goodbye: his session waits for the
   session lifetime of ``sim app``, then Solara closes it); sampling goes on for ``--after``
   seconds;
4. the server is SIGKILLed: 5 s later none of its processes may be left.

Prints a table: MB of RSS, and Solara's sessions (from its /resourcez page). Not part of the test
suite (it takes minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sim.app.cli import server_command, server_env  # noqa: E402
from sim.app.limits import LIMITS  # noqa: E402
from tests.browser.conftest import (  # noqa: E402
    CHROMIUM,
    ROOT,
    _free_port,
    group_members,
    rss_mb,
)

HEAVY = ("name: heavy\nsteps: 104\nreps: 5\n"
         f"params:\n  n_employees: {LIMITS.max_employees}\n"
         f"  n_customers: {LIMITS.max_customers}\n")
MEDIUM = "name: medium\nsteps: 52\nreps: 5\nparams:\n  n_employees: 2000\n  n_customers: 40000\n"


class Sampler(threading.Thread):
    """Samples the server's and its group's RSS twice a second; keeps the peaks per phase."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.phase, self.stop = pid, "start", False
        self.peaks: dict[str, tuple[float, float]] = {}

    def sample(self) -> tuple[float, float]:
        server = rss_mb(self.pid)
        total = 0.0
        for pid in group_members(self.pid):
            try:
                total += rss_mb(pid)
            except OSError:
                pass
        return server, total

    def run(self) -> None:
        while not self.stop:
            try:
                server, total = self.sample()
            except OSError:
                return
            old = self.peaks.get(self.phase, (0.0, 0.0))
            self.peaks[self.phase] = (max(old[0], server), max(old[1], total))
            time.sleep(0.5)


def sessions(url: str) -> str:
    """Solara's sessions (virtual kernels) in the server: total and connected."""
    try:
        with urllib.request.urlopen(url + "resourcez", timeout=5) as response:
            kernels = json.load(response)["kernels"]
        return f"{kernels['total']}/{kernels['has_connected']}"
    except (OSError, ValueError, KeyError):
        return "?"


def wait_for_run(page: Page, after: int, timeout: float = 300_000) -> None:
    page.wait_for_function(
        "g => { const s = document.querySelector('.spc-status');"
        " return s && Number(s.dataset.generation) > g && s.dataset.running === 'false'; }",
        arg=after, timeout=timeout)


def generation(page: Page) -> int:
    return int(page.locator(".spc-status").get_attribute("data-generation") or 0)


def chromium(port: int, profile: str) -> subprocess.Popen:
    return subprocess.Popen([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                             f"--remote-debugging-port={port}", f"--user-data-dir={profile}",
                             "--no-first-run", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--after", type=float, default=240, help="seconds to watch after")
    parser.add_argument("--heavy-seconds", type=float, default=60,
                        help="how long user A's heavy run may go before she closes her tab")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="measure-sessions-"))
    env = server_env()
    env["SIM_CACHE_DIR"] = str(work / "cache")
    port = _free_port()
    log = (work / "server.log").open("w")
    server = subprocess.Popen(server_command("127.0.0.1", port), env=env, cwd=ROOT,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(300):
        try:
            with urllib.request.urlopen(url, timeout=2):
                break
        except OSError:
            time.sleep(0.3)
    sampler = Sampler(server.pid)
    rows = [("server started, no session", *sampler.sample(), sessions(url))]
    sampler.start()
    browsers = [chromium(_free_port(), str(work / f"profile-{i}")) for i in range(2)]
    try:
        with sync_playwright() as pw:
            cdp = []
            for proc in browsers:
                port_arg = next(a for a in proc.args if a.startswith("--remote-debugging-port"))
                endpoint = f"http://127.0.0.1:{port_arg.split('=')[1]}"
                for _ in range(100):
                    try:
                        cdp.append(pw.chromium.connect_over_cdp(endpoint))
                        break
                    except Exception:  # noqa: BLE001 - not listening yet
                        time.sleep(0.2)
            a = cdp[0].new_context(viewport={"width": 1440, "height": 1000}).new_page()
            b = cdp[1].new_context(viewport={"width": 1440, "height": 1000}).new_page()
            sampler.phase = "two sessions load"
            a.goto(url)
            b.goto(url)
            wait_for_run(a, 0)
            wait_for_run(b, 0)
            rows.append(("two sessions loaded", *sampler.sample(), sessions(url)))

            sampler.phase = "heavy use"
            heavy, medium = work / "heavy.yaml", work / "medium.yaml"
            heavy.write_text(HEAVY)
            medium.write_text(MEDIUM)
            a.get_by_role("tab", name="Files").click()
            a.locator("input[data-testid=yaml-input]").set_input_files(heavy)
            start = time.monotonic()
            b.get_by_role("tab", name="Inside the organisation").click()
            b.get_by_role("button", name="To the end").click()
            thumb = b.locator("[data-lever=training] .v-slider__thumb-container")
            for i in range(6):
                g = generation(b)
                thumb.focus()
                b.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
                wait_for_run(b, g)
            b.get_by_role("tab", name="Files").click()
            g = generation(b)
            b.locator("input[data-testid=yaml-input]").set_input_files(medium)
            wait_for_run(b, g)
            while time.monotonic() - start < args.heavy_seconds and \
                    a.locator(".spc-status").get_attribute("data-running") == "true":
                time.sleep(1)
            status = a.locator(".spc-status-text").inner_text()
            rows.append((f"heavy use (A: {status[:40]})", *sampler.sample(), sessions(url)))

            sampler.phase = "after"
            closed = time.monotonic()
            a.context.close()                      # A closes her tab
            os.killpg(browsers[1].pid, signal.SIGKILL)   # B's browser dies
            browsers[1].wait()
            next_at = 0.0
            while (elapsed := time.monotonic() - closed) < args.after:
                if elapsed >= next_at:
                    rows.append((f"{elapsed:5.0f} s after A closed, B's browser died",
                                 *sampler.sample(), sessions(url)))
                    next_at += 30
                time.sleep(1)
            rows.append((f"{args.after:5.0f} s after", *sampler.sample(), sessions(url)))
    finally:
        sampler.stop = True
        for proc in browsers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        before = set(group_members(server.pid)) - {server.pid}
        os.kill(server.pid, signal.SIGKILL)
        time.sleep(5)
        left = group_members(server.pid)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        server.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'moment':60s} {'server':>8s} {'all':>8s} {'sessions':>9s}  (MB RSS; "
          "sessions: total/connected)")
    for label, server_mb, all_mb, open_sessions in rows:
        print(f"{label:60s} {server_mb:8.0f} {all_mb:8.0f} {open_sessions:>9s}")
    for phase, (server_mb, all_mb) in sampler.peaks.items():
        print(f"{'peak during ' + phase:60s} {server_mb:8.0f} {all_mb:8.0f}")
    print(f"SIGKILL of the server: {len(before)} processes it started, "
          f"{len(left)} left after 5 s {left if left else ''}")
    return 0 if not left else 1


if __name__ == "__main__":
    sys.exit(main())
