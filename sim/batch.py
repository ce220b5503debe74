"""Batched replications: several runs of one scenario stepped together in one set of arrays.

Why. A week is a fixed number of calls (its compiled calls and the draws), each with a cost of
its own beside its work per agent. Stepping B replications as one organisation of B times the
units, staff and customers pays those calls once a week instead of B times. Each member still
has its own step, KPIs, surveys and records, and a batch's week must be cut into its members'
weeks, so at default size a batch pays from three members on (5 default runs: 0.86 of 5 alone; 2:
1.02).

How (a flattened batch). The members' organisations are laid end to end: member b's unit,
position and market-slot numbers are shifted by the sizes of the members before it, and its peer
and word-of-mouth ties become one block of block-diagonal matrices. The weekly mechanisms of
:func:`sim.week.run_week` then run once on the whole, unchanged. A member's results are
bit-identical to its run alone, whatever its companions, because

* each member draws its own random streams with its own population sizes (:class:`BatchStreams`),
  and the blocks are laid end to end like the slots;
* every mechanism works elementwise, or sums per unit or per person (``np.bincount``, sparse row
  sums) in slot order, and no unit, person or tie spans two members;
* members share their parameters (the same scenario and timeline; only seeds differ), so every
  scalar in a formula is the one each would use alone;
* the week's sums per unit (:func:`sim.metrics.unit_sums`) are made once for the batch; a
  member's KPIs add its own units' sums in the order its run alone adds them. The week's
  headcounts and the surveys are each member's own, computed on
  views of its slices by the model's own code (:meth:`ServiceModel.step`).

Members stay ordinary :class:`~sim.model.ServiceModel` instances: while batched their state
arrays are views into the batch and each member's step takes its week from the batch; after
:func:`run_together` they are plain models again (and may go on alone, still bit-identical).
Runs whose parameters differ go to separate batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from itertools import pairwise
from typing import Any

import numpy as np
import scipy.sparse as sp

from sim import start
from sim.compiled import jit
from sim.customers import CustomerFlows
from sim.finance import Ledger
from sim.leadership import Leadership
from sim.model import ServiceModel
from sim.params import Params
from sim.rng import Streams, WeeklyDraws
from sim.state import Encounters, Market, Units, Workforce
from sim.turnover import StaffFlows
from sim.week import Organisation, Week, run_week

# At most this many position and market slots in one batch: beyond a few tens of thousands the
# per-call overhead a batch saves is small beside the work, and a batch holds all its members.
BATCH_SLOTS = 100_000


class BatchStreams(WeeklyDraws):
    """The members' own random streams, each drawn with the member's own size, end to end.

    Stands in for :class:`sim.rng.Streams` in :func:`sim.week.run_week`: a member's row of
    draws is exactly the row it draws alone.
    """

    def __init__(self, members: Sequence[Streams], sizes: Mapping[str, Sequence[int]]) -> None:
        """``sizes``: each population's (stream name's) size in every member, in batch order."""
        self.members = list(members)
        self.parts = {name: _slices(counts) for name, counts in sizes.items()}

    def block(self, name: str, step: int, decisions: tuple[str, ...], n: int) -> np.ndarray:
        """The members' blocks laid end to end (each row: the members' rows in batch order)."""
        parts = self.parts[name]
        if parts[-1].stop != n:
            raise ValueError(f"{name}: the batch has {parts[-1].stop} slots, asked for {n}")
        block = np.empty((len(decisions), n))
        for member, part in zip(self.members, parts, strict=True):
            member.fill(name, step, block, part.start, part.stop)
        return block


@dataclass(frozen=True)
class Extent:
    """Where one member's units, positions and market slots sit in the batch."""

    units: slice
    positions: slice
    market: slice


def _slices(counts: Sequence[int]) -> list[slice]:
    ends = np.cumsum(counts).tolist()
    return [slice(end - count, end) for end, count in zip(ends, counts, strict=True)]


def extents_of(orgs: Sequence[Organisation]) -> list[Extent]:
    """Where each of ``orgs`` sits when they are laid end to end in this order."""
    return [Extent(*where) for where in zip(_slices([o.units.n for o in orgs]),
                                            _slices([o.workforce.n for o in orgs]),
                                            _slices([o.market.n for o in orgs]), strict=True)]


def _block_diagonal(blocks: Sequence[sp.csr_matrix]) -> sp.csr_matrix:
    """The members' adjacency matrices on the diagonal, each row's ties in their own order.

    Built from the CSR arrays directly, so that every row lists the same ties in the same order
    as alone and a row's sum (peer means) adds the same numbers in the same order.
    """
    rows = np.cumsum([0, *(b.shape[0] for b in blocks)]).tolist()
    ties = np.cumsum([0, *(b.nnz for b in blocks)]).tolist()
    indptr = np.concatenate(
        [np.zeros(1, np.int64), *(b.indptr[1:] + t for b, t in zip(blocks, ties, strict=False))]
    )
    indices = np.concatenate([b.indices + r for b, r in zip(blocks, rows, strict=False)])
    data = np.concatenate([b.data for b in blocks])
    return type(blocks[0])((data, indices, indptr), shape=(rows[-1], rows[-1]))


def _shifted(values: np.ndarray, offset: int) -> np.ndarray:
    """Slot numbers moved by ``offset``; -1 ("none") stays -1."""
    return np.where(values >= 0, values + offset, values)


# Slot-number arrays: in the batch each is shifted by its member's offset of the population it
# numbers (see join); a member's view keeps its own, which never change but last_employee, copied
# back when the batch releases its members (Batch.run).
NUMBERING = {
    ("units", "position_start"): "positions",
    ("units", "customer_start"): "market",
    ("workforce", "unit"): "units",
    ("market", "unit"): "units",
    ("market", "last_employee"): "positions",
}
_PARTS = {"units": Units, "workforce": Workforce, "market": Market}


def join(orgs: Sequence[Organisation], extents: Sequence[Extent]) -> Organisation:
    """The members' organisations laid end to end as one (see the module's docstring)."""
    def joined(part: str) -> Any:
        members = [getattr(o, part) for o in orgs]
        values = {}
        for f in fields(_PARTS[part]):
            numbers = NUMBERING.get((part, f.name))
            values[f.name] = np.concatenate(
                [getattr(m, f.name) if numbers is None
                 else _shifted(getattr(m, f.name), getattr(e, numbers).start)
                 for m, e in zip(members, extents, strict=True)],
                axis=-1,
            )
        return _PARTS[part](**values)

    return Organisation(joined("units"), joined("workforce"), joined("market"),
                        _block_diagonal([o.peers for o in orgs]),
                        _block_diagonal([o.contacts for o in orgs]))


def member_view(batch: Organisation, own: Organisation, extent: Extent) -> Organisation:
    """A member's organisation as views of its slices of the batch, in its own numbering."""
    where = {"units": extent.units, "workforce": extent.positions, "market": extent.market}

    def view(part: str) -> Any:
        values = {}
        for f in fields(_PARTS[part]):
            if (part, f.name) in NUMBERING:
                values[f.name] = getattr(getattr(own, part), f.name)
            else:
                values[f.name] = getattr(getattr(batch, part), f.name)[..., where[part]]
        return _PARTS[part](**values)

    return Organisation(view("units"), view("workforce"), view("market"),
                        own.peers, own.contacts)


@jit
def _renumbered(sorted_slots, starts):
    """Arrays of sorted batch slot numbers in their members' own numbering, in one pass.

    ``starts``: the members' first slots. Returns the arrays' local numbers end to end, and
    where their members' rows end: array k's rows of member b are ``ends[k, b]:ends[k, b + 1]``.
    """
    total = 0
    for slots in sorted_slots:
        total += len(slots)
    batch = np.empty(total, np.int64)
    ends = np.empty((len(sorted_slots), len(starts) + 1), np.int64)
    offset = 0
    for k in range(len(sorted_slots)):
        slots = sorted_slots[k]
        ends[k, 0], ends[k, -1] = offset, offset + len(slots)
        ends[k, 1:-1] = offset + np.searchsorted(slots, starts[1:])
        batch[offset:offset + len(slots)] = slots
        offset += len(slots)
    return _less_start(batch, ends.ravel(), starts), ends


@jit
def _less_start(values, ends, starts):
    """Slot numbers less their member's first slot; -1 ("none") stays.

    ``ends``: where members' rows end, ``len(starts) + 1`` numbers per array of rows, arrays
    end to end; member b's first slot is ``starts[b]``.
    """
    members = len(starts)
    local = np.empty_like(values)
    for k in range(len(ends) // (members + 1)):
        row = k * (members + 1)
        for b in range(members):
            for i in range(ends[row + b], ends[row + b + 1]):
                local[i] = values[i] - starts[b] if values[i] >= 0 else values[i]
    return local


def _parts(values: np.ndarray, ends: list[int]) -> list[np.ndarray]:
    """Each member's rows of ``values``, from where members' rows end (``ends[b]:ends[b + 1]``)."""
    return [values[first:last] for first, last in pairwise(ends)]


_NAMES = {kind: tuple(f.name for f in fields(kind))
          for kind in (Leadership, Ledger, CustomerFlows, StaffFlows)}


def _per_unit[PerUnit: (Leadership, Ledger)](record: PerUnit, where: slice) -> PerUnit:
    """A per-unit record (leadership, ledger) restricted to one member's units."""
    return type(record)(**{name: getattr(record, name)[where] for name in _NAMES[type(record)]})


def split_week(week: Week, extents: Sequence[Extent],
               headcounts: Sequence[tuple[int, int]]) -> list[Week]:
    """The batch's week as each member's own week (``headcounts``: each member's at its start).

    Each member gets views of its rows, with its slot numbers in its own numbering: the visits'
    and the market's flows renumbered in one compiled call, the staff's flows in another.
    """
    market = np.array([e.market.start for e in extents], np.int64)
    positions = np.array([e.positions.start for e in extents], np.int64)
    enc, flows, staff = week.encounters, week.customers, week.staff
    local, ends = _renumbered(
        (enc.customer, *(getattr(flows, name) for name in _NAMES[CustomerFlows])), market)
    staff_local, staff_ends = _renumbered(
        tuple(getattr(staff, name) for name in _NAMES[StaffFlows]), positions)
    visits = ends[0]
    employee = _less_start(enc.employee, visits, positions)
    visits = visits.tolist()
    flow_parts = [_parts(local, rows) for rows in ends[1:].tolist()]
    staff_parts = [_parts(staff_local, rows) for rows in staff_ends.tolist()]
    weeks = []
    for b, (extent, first, last) in enumerate(zip(extents, visits, visits[1:], strict=False)):
        encounters = Encounters(
            customer=local[first:last], employee=employee[first:last],
            quality=enc.quality[first:last], satisfaction=enc.satisfaction[first:last],
            spend=enc.spend[first:last], very_bad=enc.very_bad[first:last])
        weeks.append(Week(
            leadership=_per_unit(week.leadership, extent.units),
            encounters=encounters,
            customers=CustomerFlows(*(parts[b] for parts in flow_parts)),
            staff=StaffFlows(*(parts[b] for parts in staff_parts)),
            ledger=_per_unit(week.ledger, extent.units),
            staff_before=headcounts[b][0],
            active_before=headcounts[b][1],
            sums=week.sums[extent.units],
            table=week.table[extent.units],
        ))
    return weeks


def _batchable(first: ServiceModel, other: ServiceModel) -> bool:
    """Whether two runs can share a batch: same step, parameters, timeline and horizon."""
    return (other.steps == first.steps and other.params == first.params
            and other.scenario.timeline == first.scenario.timeline
            and other.scenario.steps == first.scenario.steps)


class Batch:
    """Members stepped together: the batch runs each week's mechanisms once for all of them."""

    def __init__(self, members: Sequence[ServiceModel]) -> None:
        """Lay ``members`` (runs of one scenario on different seeds, at the same step) end to end.

        Raises ValueError if they cannot share a batch (see :func:`_batchable`).
        """
        if not members or not all(_batchable(members[0], m) for m in members):
            raise ValueError("a batch takes runs at the same step, with the same parameters, "
                             "timeline and horizon")
        if any(m.batch is not None for m in members):
            raise ValueError("a run is already in a batch")
        self.members = list(members)
        self._own = [m.organisation for m in members]
        self.extents = extents_of(self._own)
        self.organisation = join(self._own, self.extents)
        self.streams = BatchStreams(
            [m.streams for m in members],
            {"market": [o.market.n for o in self._own],
             "staff": [o.workforce.n for o in self._own]},
        )
        self._index = {id(m): b for b, m in enumerate(members)}
        self._step: int | None = None  # the week being stepped, and its parts:
        self._week: Week | None = None  # the batch's week
        self._weeks: list[Week] = []  # each member's part of it
        for m, own, extent in zip(members, self._own, self.extents, strict=True):
            view = m.organisation = member_view(self.organisation, own, extent)
            m.units, m.workforce, m.market = view.units, view.workforce, view.market
            m.batch = self

    def week_of(self, member: ServiceModel, params: Params, step: int) -> Week:
        """``member``'s week ``step``; the first member's call runs the week for all of them.

        Members step in batch order, each once a week (:meth:`run`): the others' parameters
        equal the first's (checked when batched; a shared timeline keeps them equal).
        """
        b = self._index[id(member)]
        if b == 0:
            headcounts = [m.organisation.headcounts() for m in self.members]
            self._week = run_week(self.organisation, params, self.streams, step)
            self._weeks = split_week(self._week, self.extents, headcounts)
            self._step = step
        elif step != self._step:
            raise RuntimeError("batched runs step together, in batch order (Batch.run)")
        return self._weeks[b]

    def run(self, steps: int | None = None, on_week: Callable[[int], None] | None = None
            ) -> list[ServiceModel]:
        """Step every member ``steps`` weeks (default: to the horizon), then release them.

        ``on_week(n)`` hears that the ``n`` members stepped one more week (it may raise to end
        the run early, e.g. to stop a page's replications). Released, each member holds its state
        in its own numbering (``last_employee``, the one slot number that changes, is copied
        back) and steps alone again, bit-identically.
        """
        first = self.members[0]
        remaining = first.scenario.steps - first.steps if steps is None else steps
        try:
            for _ in range(max(remaining, 0)):
                for member in self.members:
                    member.step()
                if on_week is not None:
                    on_week(len(self.members))
        finally:
            last = self.organisation.market.last_employee
            for member, own, extent in zip(self.members, self._own, self.extents, strict=True):
                own.market.last_employee[:] = _shifted(last[extent.market],
                                                       -extent.positions.start)
                member.batch = None
        return self.members


def run_together(models: Iterable[ServiceModel], steps: int | None = None,
                 on_week: Callable[[int], None] | None = None) -> Iterator[ServiceModel]:
    """Run ``models`` (to their horizon, or ``steps`` weeks) in batches; yield each when done.

    ``on_week(n)`` hears after every week of a batch that its ``n`` runs stepped it.

    Consecutive runs that can share a batch (same parameters, timeline, horizon and step) do,
    up to :data:`BATCH_SLOTS` slots. ``models`` is consumed lazily: a batch runs as soon as
    another run of its last one's size would not fit, so a large run is made only after the one
    before it has finished (as when runs go one at a time). Runs come back in their order.
    """
    pending: list[ServiceModel] = []
    slots = 0
    for model in models:
        if pending and not _batchable(pending[0], model):
            yield from _run(pending, steps, on_week)
            pending, slots = [], 0
        size = model.workforce.n + model.market.n
        pending.append(model)
        slots += size
        if slots + size > BATCH_SLOTS:
            yield from _run(pending, steps, on_week)
            pending, slots = [], 0
    if pending:
        yield from _run(pending, steps, on_week)


def _run(models: list[ServiceModel], steps: int | None,
         on_week: Callable[[int], None] | None) -> list[ServiceModel]:
    """One batch (a lone run steps on its own: nothing to share)."""
    if len(models) > 1:
        return Batch(models).run(steps, on_week)
    model = models[0]
    if on_week is None:
        return [model.run(steps)]
    for _ in range(max(model.scenario.steps - model.steps if steps is None else steps, 0)):
        model.step()
        on_week(1)
    return [model]


# --- settling today's organisations together ----------------------------------------------------
def settle_starts(params: Params, seeds: Iterable[int]) -> None:
    """Settle the starts of ``seeds`` that are not kept yet, in batches, and keep them.

    The 312 settling weeks are most of a first run's cost; stepped together, several seeds
    settle for little more than one. Each start has the same bits as one settled alone (the
    argument of this module's docstring: one parameter set, each member its own streams), so
    :func:`sim.start.today` then finds it kept, as if it had settled it itself.
    """
    group: list[tuple[int, Streams, Organisation]] = []
    slots = 0
    for seed in dict.fromkeys(seeds):
        if start.is_kept(params, seed):
            continue
        streams = Streams(seed)
        org = start.build(params, streams)
        size = org.workforce.n + org.market.n
        if group and slots + size > BATCH_SLOTS:
            _settle_together(params, group)
            group, slots = [], 0
        group.append((seed, streams, org))
        slots += size
    if group:
        _settle_together(params, group)


def _settle_together(params: Params, group: Sequence[tuple[int, Streams, Organisation]]) -> None:
    """Settle ``group``'s organisations as one batch, then each member's week 0 on its own.

    A group of one settles in place: nothing to share, and no copy of a large organisation.
    """
    own = [org for _, _, org in group]
    prefix = start.SETTLE_STREAMS
    if len(group) == 1:
        settling, streams = own[0], group[0][1]
    else:
        extents = extents_of(own)
        settling = join(own, extents)
        streams = BatchStreams([s for _, s, _ in group],
                               {f"{prefix}market": [o.market.n for o in own],
                                f"{prefix}staff": [o.workforce.n for o in own]})
    start.run_settling_weeks(settling, params, streams)
    for b, (seed, member_streams, org) in enumerate(group):
        if settling is not org:
            _take_back(settling, org, extents[b])
        start.keep(start.finish(params, org, member_streams), seed)


def _take_back(batch: Organisation, own: Organisation, extent: Extent) -> None:
    """Copy a member's slices of the batch into its own organisation, in its own numbering."""
    view = member_view(batch, own, extent)
    for part in _PARTS:
        for f in fields(_PARTS[part]):
            if (part, f.name) not in NUMBERING:
                getattr(getattr(own, part), f.name)[...] = getattr(getattr(view, part), f.name)
    own.market.last_employee[:] = _shifted(batch.market.last_employee[extent.market],
                                           -extent.positions.start)
