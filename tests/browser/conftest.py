"""Serve the what-if explorer on a free port and drive Debian's Chromium with Playwright.

Without Chromium the browser tests skip locally (one line says why), but fail under CI (the
``CI`` environment variable set, as CI services do): a CI without a browser must not pass with the
page untested. The server is stopped with SIGTERM, as an operator would; its log must then hold no
leaked-semaphore warning and no process of its group may be left.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect

from sim.app.cli import server_command, server_env

# The page answers within a second on a quiet machine, but CI runs the browser tests beside
# model tests on two cores: give every expectation room (they return as soon as they hold).
expect.set_options(timeout=20_000)

CHROMIUM = os.environ.get("SIM_TEST_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def under_ci() -> bool:
    """Whether the tests run in CI (``CI`` set to anything but empty, 0 or false)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def rss_mb(pid: int) -> float:
    """Resident memory of one process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time used so far by ``pids`` (those still there)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


@dataclass
class Server:
    """The running ``sim app``: its URL, process and log."""

    url: str
    proc: subprocess.Popen
    log: Path

    def workers(self) -> list[int]:
        """Every process the server started (fork server, workers, resource tracker)."""
        return [p for p in group_members(self.proc.pid) if p != self.proc.pid]

    def busy(self, window: float = 0.3) -> float:
        """CPU seconds per second the server's workers used over ``window``."""
        pids = self.workers()
        before = cpu_seconds(pids)
        time.sleep(window)
        return (cpu_seconds(pids) - before) / window


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests keep to one xdist worker under ``--dist loadgroup`` (one page server and one
    Chromium at a time); ``make test`` runs them on their own after the model tests."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """Use the system Chromium (Playwright cannot download its own browser here)."""
    if not shutil.which(CHROMIUM):
        reason = f"{CHROMIUM} is not installed (apt-get install chromium, or set SIM_TEST_CHROMIUM)"
        if under_ci():
            pytest.fail(f"CI is set but {reason}: the page would go untested", pytrace=False)
        pytest.skip(reason)
    return {**browser_type_launch_args, "executable_path": CHROMIUM,
            "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    """A desktop-sized window and downloads allowed."""
    return {**browser_context_args, "viewport": {"width": 1440, "height": 1000},
            "accept_downloads": True}


def _run_cache_of_its_own() -> Path:
    """A disk cache for one server: its runs its own, the settled starts shared.

    A lever change the latency tests time must be simulated, not read from a run an earlier
    test session kept (the run cache outlives sessions); settling today's organisation is not
    what they time, so the starts of the tests' shared cache are reused.
    """
    shared = Path(os.environ["SIM_CACHE_DIR"]) / "starts"
    shared.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="sim-app-cache-"))
    (root / "starts").symlink_to(shared, target_is_directory=True)
    return root


@contextmanager
def served(command: list[str], log: Path, no_traceback: bool = False) -> Iterator[Server]:
    """Run ``command`` (a ``sim app``) until the block ends, then stop it with SIGTERM.

    Fails when it does not answer within 90 s, leaves a process of its group behind 5 s after
    it stopped, or logs a leaked resource (or, with ``no_traceback``, a traceback).
    """
    log.parent.mkdir(exist_ok=True)
    port = int(command[command.index("--port") + 1])
    env, cache = server_env(), _run_cache_of_its_own()
    env["SIM_CACHE_DIR"] = str(cache)
    with log.open("w") as out:
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"sim app exited with {proc.returncode}; see {log}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"sim app did not answer on {url} within 90 s; see {log}")
            time.sleep(0.3)
        yield Server(url, proc, log)
    finally:
        proc.send_signal(signal.SIGTERM)      # the server alone: it must stop its workers
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        deadline = time.monotonic() + 5
        while group_members(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = group_members(proc.pid)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        text = log.read_text()
        leaked = [line for line in text.splitlines() if "leaked" in line]
    shutil.rmtree(cache, ignore_errors=True)
    assert not left, f"processes of sim app still running 5 s after it stopped: {left}"
    assert not leaked, leaked[0]
    assert not (no_traceback and "Traceback" in text), f"a traceback in {log}"


@pytest.fixture(scope="session")
def app_server() -> Iterator[Server]:
    """The page served by ``sim app``'s own command line in a subprocess."""
    port = _free_port()
    with served(server_command("127.0.0.1", port), ARTIFACTS / f"server-{port}.log") as server:
        yield server


@pytest.fixture(scope="session")
def app_url(app_server: Server) -> str:
    """The page's address."""
    return app_server.url


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots and downloads of the browser tests go (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
