"""Named scenarios saved on the server, so a plan outlives the tab, a reload and a restart.

Each saved scenario is one scenario YAML file (the format ``sim run`` reads, fully resolved, so
it re-runs to the same numbers) in the library folder: ``sim app --library DIR``, else the
``SIM_LIBRARY`` environment variable, else ``service-profit-sim/library`` in the user's data
folder (``$XDG_DATA_HOME``, by default ``~/.local/share``). Files are written atomically: a
crash or a full disk never leaves half a scenario, and a refused name writes nothing.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import replace
from pathlib import Path

from sim.params import ParameterError
from sim.scenario import ScenarioError, ServiceScenario, load_scenario

ENV = "SIM_LIBRARY"
PREFIX = "saved: "              # how saved scenarios are listed beside the presets
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _-]{0,59}")
ALLOWED = ("1 to 60 letters, digits, spaces, '-' or '_', starting with a letter or digit")


def default_folder() -> Path:
    """The library folder when ``--library`` is not given (see the module docstring)."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data) / "service-profit-sim" / "library"


def check_name(name: str) -> str:
    """``name`` without surrounding spaces if it may name a saved scenario, else one line."""
    text = (name or "").strip()
    if not NAME.fullmatch(text):
        raise ParameterError(f"name {text[:40]!r} refused: allowed {ALLOWED}")
    return text


class Library:
    """The saved scenarios of one folder (created on the first save)."""

    def __init__(self, folder: Path | str | None = None) -> None:
        self.folder = Path(folder).expanduser() if folder else default_folder()

    def names(self) -> list[str]:
        """Names of the saved scenarios, sorted (files with other names are ignored)."""
        if not self.folder.is_dir():
            return []
        return sorted((p.stem for p in self.folder.glob("*.yaml") if NAME.fullmatch(p.stem)),
                      key=str.lower)

    def path(self, name: str) -> Path:
        """The file of saved scenario ``name``."""
        return self.folder / f"{check_name(name)}.yaml"

    def load(self, name: str) -> ServiceScenario:
        """The saved scenario ``name`` (ScenarioError with one line if it cannot be read)."""
        path = self.path(name)
        if not path.is_file():
            raise ScenarioError(f"no saved scenario {name!r} in {self.folder}")
        return load_scenario(path)

    def save(self, name: str, scenario: ServiceScenario) -> ServiceScenario:
        """Save ``scenario`` as ``name`` (replacing one of that name); the saved scenario.

        Written to a temporary file in the folder and renamed over the old one, so readers see
        the old file or the new one, never a part.
        """
        saved = replace(scenario, name=check_name(name))
        path = self.path(saved.name)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=self.folder, prefix=".saving-", suffix=".tmp")
            try:
                with os.fdopen(handle, "w") as out:
                    out.write(saved.to_yaml())
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, path)
            finally:
                if os.path.exists(temp):
                    os.unlink(temp)
        except OSError as err:
            raise ParameterError(f"cannot save {saved.name!r} in {self.folder} "
                                 f"({err.strerror or err.__class__.__name__})") from None
        return saved


def listed(name: str) -> str:
    """How a saved scenario appears in the pickers."""
    return f"{PREFIX}{name}"


def unlisted(entry: str) -> str | None:
    """The saved scenario's name of a picker entry, or None for a preset or a file."""
    return entry[len(PREFIX):] if entry.startswith(PREFIX) else None


LIBRARY = Library()     # the server's library (``SIM_LIBRARY``, set by ``sim app``)


def resolve(entry: str, library: Library | None = None) -> ServiceScenario:
    """A picker entry as a scenario: a preset by name, or a saved one (``saved: NAME``)."""
    name = unlisted(entry)
    if name is None:
        return load_scenario(entry)
    return (library or LIBRARY).load(name)
