"""Mesa agents: the public face of the array engine.

Each agent holds its slot in the state arrays and reads (and writes) its state through
properties, so Mesa users can inspect, select and collect agents as usual while every step
updates whole arrays at once. Agents have no ``step`` method: the model advances all of them
together (see :mod:`sim.model`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim.metrics import DISENGAGED_BELOW, ENGAGED_AT
from sim.state import ACTIVE, LOST

if TYPE_CHECKING:
    from sim.model import ServiceModel

STATUS_NAMES = {0: "prospect", ACTIVE: "active", LOST: "lost"}


def _state(store: str, name: str, doc: str, writable: bool = True) -> property:
    """A float property backed by ``model.<store>.<name>[slot]`` (read-only if not writable)."""

    def get(self: _SlotAgent) -> float:
        return float(getattr(getattr(self.model, store), name)[self.slot])

    def set_(self: _SlotAgent, value: float) -> None:
        getattr(getattr(self.model, store), name)[self.slot] = value

    return property(get, set_ if writable else None, doc=doc)


class _SlotAgent(mesa.Agent):
    model: ServiceModel

    def __init__(self, model: ServiceModel, slot: int) -> None:
        super().__init__(model)
        self.slot = int(slot)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.unique_id}, slot={self.slot})"


class Employee(_SlotAgent):
    """A frontline employee holding position ``slot`` of a business unit."""

    engagement = _state("workforce", "engagement", "Engagement, 0-1.")
    trust = _state("workforce", "trust", "Trust in the unit manager, 0-1.")
    skill = _state("workforce", "skill", "Job competence, 0-1.")
    burnout = _state("workforce", "burnout", "Exhaustion, 0-1.")
    mood = _state("workforce", "mood", "This week's mood, 0-1 (0.5 neutral).")
    alignment = _state("workforce", "alignment", "Shares the goals (knows the why), 0-1.")
    autonomy = _state("workforce", "autonomy", "Latitude to act, 0-1.")
    fit = _state("workforce", "fit", "Person-job fit, 0-1.")
    feedback = _state("workforce", "feedback", "Recent satisfaction of customers served, 0-1.")

    @property
    def unit(self) -> int:
        """Business unit of the position."""
        return int(self.model.workforce.unit[self.slot])

    @property
    def tenure(self) -> int:
        """Weeks in the job."""
        return int(self.model.workforce.tenure[self.slot])

    @property
    def engagement_category(self) -> str:
        """Gallup-style group: engaged, not engaged or actively disengaged."""
        e = self.engagement
        if e >= ENGAGED_AT:
            return "engaged"
        return "actively disengaged" if e < DISENGAGED_BELOW else "not engaged"

    @property
    def manager(self) -> Manager:
        """The unit's manager."""
        return self.model.managers[self.unit]


class Manager(_SlotAgent):
    """The manager of business unit ``slot`` (slot = unit index)."""

    engagement = _state("units", "manager_engagement", "The manager's own engagement, 0-1.")

    @property
    def unit(self) -> int:
        """Business unit managed."""
        return self.slot

    # this week's behaviour (recomputed weekly from the traits and the manager's engagement)
    fairness = _state("leadership", "fairness",
                      "Effective fairness this week (trait x drive from own engagement).", False)
    control = _state("leadership", "control",
                     "Micromanagement: control over how work is done.", False)
    support = _state("leadership", "support",
                     "Mentoring support this week, before dilution by team size.", False)
    recognition = _state("leadership", "recognition", "Recognition given this week.", False)
    communication = _state("leadership", "communication",
                           "Communication of the vision this week.", False)

    @property
    def team(self) -> list[Employee]:
        """Employees currently in the unit."""
        wf = self.model.workforce
        slots = (wf.unit == self.slot) & wf.filled
        return [self.model.employee_at[i] for i in slots.nonzero()[0]]


class Customer(_SlotAgent):
    """A person in a unit's local market: prospect, active customer or lost customer."""

    expectation = _state("market", "expectation", "Expected service quality, 0-1.")
    satisfaction = _state("market", "satisfaction", "Satisfaction with the service, 0-1.")
    loyalty = _state("market", "loyalty", "Attachment to the business, 0-1.")

    @property
    def unit(self) -> int:
        """Home business unit."""
        return int(self.model.market.unit[self.slot])

    @property
    def status(self) -> str:
        """'prospect', 'active' or 'lost'."""
        return STATUS_NAMES[int(self.model.market.status[self.slot])]

    @property
    def tenure(self) -> int:
        """Weeks as a customer."""
        return int(self.model.market.tenure[self.slot])

    @property
    def referred(self) -> bool:
        """Became a customer through a referral."""
        return bool(self.model.market.referred[self.slot])

    @property
    def last_served_by(self) -> Employee | None:
        """Employee who served the last visit, if still employed in that position."""
        pos = int(self.model.market.last_employee[self.slot])
        return self.model.employee_at[pos] if pos >= 0 else None


class _LazyAgents[A: _SlotAgent](Sequence[A | None]):
    """Agents of slots 0..n-1 of a model, each made the first time code touches it."""

    kind: type[A]

    def __init__(self, model: ServiceModel, n: int) -> None:
        """The agents of ``model``'s slots 0..n-1 (none made yet)."""
        self._model = model
        self._n = n
        self._made: dict[int, A] = {}

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: int | slice) -> A | None | list[A | None]:  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._n))]
        return self._agent(range(self._n)[index])  # IndexError, negative indices: as a list's

    def __iter__(self) -> Iterator[A | None]:
        return (self[i] for i in range(self._n))

    def _agent(self, slot: int) -> A | None:
        agent = self._made.get(slot)
        if agent is None:
            agent = self._made[slot] = self.kind(self._model, slot)
        return agent

    @property
    def made(self) -> int:
        """How many of these agents exist now."""
        return len(self._made)


class LazyEmployees(_LazyAgents[Employee]):
    """The model's employees as Mesa agents, by position, each made the first time code touches it.

    ``employee_at[slot]`` is the agent of the employee holding position ``slot``, or None for a
    vacant position. An agent is made on first touch (by index, by iterating, or through
    ``model.agents`` / ``agents_by_type``, which make them all) and removed from the model when
    its employee leaves; whoever fills the position later gets a new agent. A week's quits and
    hires cost no agent churn unless agents were asked for.
    """

    kind = Employee

    def _agent(self, slot: int) -> Employee | None:
        if not self._model.workforce.filled[slot]:
            self.vacate([slot])  # left since its agent was made (e.g. a hand-made shock)
            return None
        return super()._agent(slot)

    def vacate(self, slots: Iterable[int]) -> None:
        """The employees of ``slots`` left: their agents (if made) leave the model."""
        for slot in slots:
            agent = self._made.pop(int(slot), None)
            if agent is not None:
                agent.remove()

    def make_all(self) -> None:
        """Make the agent of every employee in post not made yet (for Mesa's agent sets)."""
        for slot in np.flatnonzero(self._model.workforce.filled).tolist():
            self[slot]


class LazyCustomers(_LazyAgents[Customer]):
    """The model's customers as Mesa agents, each made the first time code touches it.

    A market of a million people costs no Python objects until someone asks for them: by index,
    by iterating, or through ``model.agents`` / ``agents_by_type`` (which make them all, in slot
    order). The state lives in the arrays either way. A customer agent stays with its market
    slot for the whole run: a slot whose customer was lost and renewed is a new household in
    the same agent, so turnover in a market of millions costs no agent churn.
    """

    kind = Customer

    def make_all(self) -> None:
        """Make every customer agent not made yet (for Mesa's agent sets)."""
        if len(self._made) < self._n:
            for slot in range(self._n):
                self[slot]
