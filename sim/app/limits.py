"""The page's limits, defined once: the inputs, file uploads and the run engine all use LIMITS.

The page is a shared server: every visitor's runs use the same few worker processes and the
same memory. These bounds keep one comparison to about a minute of the pool's time and a few
hundred MB per worker; bigger studies belong to ``sim run`` and ``sim sweep``, which have no
such limits. A value over a limit is refused with one line naming the key, the value and the
allowed maximum, before anything is built or run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sim.params import ParameterError
from sim.scenario import ServiceScenario


class LimitError(ParameterError):
    """A setting above what the page runs (one line: key, value, allowed maximum)."""


@dataclass(frozen=True)
class Limits:
    """Bounds of what one comparison on the page may ask for."""

    min_employees: int = 10
    max_employees: int = 20_000
    min_customers: int = 100
    max_customers: int = 400_000
    min_weeks: int = 4
    max_weeks: int = 520
    min_reps: int = 1
    max_reps: int = 50
    # (employees + customers) x weeks x replications x 2 runs (scenario and baseline): about a
    # minute of both workers of a 2-core server at the largest sizes.
    max_agent_weeks: int = 500_000_000
    max_timeline_events: int = 200
    max_upload_bytes: int = 1_000_000
    # The inside view builds and steps replication 1 in the server process itself (not in a
    # worker): employees + customers up to this many, ten times the default organisation.
    max_inside_people: int = 50_000
    # Plans compared at once against one comparator (each is a full set of replications).
    max_plans: int = 8

    def bounds(self, key: str) -> tuple[int, int]:
        """Allowed ``(low, high)`` of a scenario key: n_employees, n_customers, steps, reps."""
        return {
            "n_employees": (self.min_employees, self.max_employees),
            "n_customers": (self.min_customers, self.max_customers),
            "steps": (self.min_weeks, self.max_weeks),
            "reps": (self.min_reps, self.max_reps),
        }[key]

    def check_value(self, key: str, value: int | float) -> int | float:
        """``value`` if it is within the page's bounds of ``key``, else LimitError."""
        low, high = self.bounds(key)
        if value > high:
            raise LimitError(f"{key}={_number(value)} is above this page's maximum of {high:,} "
                             "(use `sim run` for bigger runs)")
        if value < low:
            raise LimitError(f"{key}={_number(value)} is below this page's minimum of {low:,}")
        return value

    @staticmethod
    def agent_weeks(scenario: ServiceScenario) -> int:
        """Simulated person-weeks of a comparison (scenario and baseline, every replication)."""
        people = scenario.params.n_employees + scenario.params.n_customers
        return people * scenario.steps * scenario.reps * 2

    def check(self, scenario: ServiceScenario) -> ServiceScenario:
        """``scenario`` if the page may run it, else LimitError naming the first excess."""
        self.check_value("n_employees", scenario.params.n_employees)
        self.check_value("n_customers", scenario.params.n_customers)
        self.check_value("steps", scenario.steps)
        self.check_value("reps", scenario.reps)
        if len(scenario.timeline) > self.max_timeline_events:
            raise LimitError(f"timeline: {len(scenario.timeline):,} events is above this page's "
                             f"maximum of {self.max_timeline_events:,}")
        work = self.agent_weeks(scenario)
        if work > self.max_agent_weeks:
            raise LimitError(
                f"agent-weeks={work:,} ((employees + customers) x weeks x replications x 2) is "
                f"above this page's maximum of {self.max_agent_weeks:,}: lower a size, the weeks "
                "or the replications")
        return scenario

    def check_many(self, plans: list[ServiceScenario], comparator: ServiceScenario) -> None:
        """Refuse a multi-plan comparison over the number of plans or the work limit."""
        if len(plans) > self.max_plans:
            raise LimitError(f"plans: {len(plans)} is above this page's maximum of "
                             f"{self.max_plans}")
        work = sum(self.agent_weeks(s) // 2 for s in [*plans, comparator])
        if work > self.max_agent_weeks:
            raise LimitError(
                f"agent-weeks={work:,} ((employees + customers) x weeks x replications, summed "
                f"over the plans and the comparator) is above this page's maximum of "
                f"{self.max_agent_weeks:,}: fewer plans, smaller sizes, weeks or replications")

    def check_data(self, data: Any) -> None:
        """Refuse raw scenario data (parsed YAML) over a limit, before it becomes a ServiceScenario.

        Only numbers are judged here; wrong types are left to the scenario parser, which names
        them. Sizes inherited from a ``base`` preset are judged by :meth:`check` later.
        """
        if not isinstance(data, dict):
            return
        params = data.get("params")
        values = [("steps", data.get("steps")), ("reps", data.get("reps"))]
        if isinstance(params, dict):
            values += [(k, params.get(k)) for k in ("n_employees", "n_customers")]
        for key, value in values:
            if isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and value == value:
                self.check_value(key, value)
        timeline = data.get("timeline")
        if isinstance(timeline, list) and len(timeline) > self.max_timeline_events:
            raise LimitError(f"timeline: {len(timeline):,} events is above this page's maximum "
                             f"of {self.max_timeline_events:,}")

    def check_upload(self, text: str | None) -> None:
        """Refuse a file the browser could not send, or one larger than the page reads."""
        if text is None or len(text) > self.max_upload_bytes \
                or len(text.encode("utf-8", "replace")) > self.max_upload_bytes:
            raise LimitError(f"file size is above this page's maximum of "
                             f"{self.max_upload_bytes:,} bytes")


def _number(value: int | float) -> str:
    """``value`` with thousands separators; a description if it is too long to print."""
    try:
        return f"{value:,}" if not isinstance(value, float) or not value.is_integer() \
            else f"{int(value):,}"
    except (ValueError, OverflowError):  # an int beyond sys.get_int_max_str_digits(), or inf
        return repr(value) if isinstance(value, float) \
            else f"<a number of about {value.bit_length() * 0.30103:.0f} digits>"


LIMITS = Limits()
