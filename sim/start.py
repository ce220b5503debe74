"""Today's organisation: the settled start that every scenario run on a seed shares.

A strategist asks "if we change X in our organisation from today, what happens?". So a run does
not build an organisation from its own levers: it starts from *today's* organisation, built from
the start policies (the baseline's, or those of the scenario named by ``start:``) and the
scenario's world (size, behaviour, market and finance parameters), settled by running the
model's own weekly mechanisms until its stocks stop moving. The scenario's levers take effect
from week 1. Two scenarios on one seed therefore start from the same people, managers, networks,
customers and random state, and differ only by what they change.

Settling. :mod:`sim.population` gives a first guess (selected stayers, unit stocks at their fixed
point); then ``SETTLE_WEEKS`` whole weeks run on their own random streams (prefixed
``settle.``). That length comes from Welch's method (Law & Kelton, *Simulation Modeling and
Analysis*): the ensemble means of the stocks over 8 seeds of the baseline, in 26-week blocks,
trend for about 200 weeks (customers, prospects, loyalty, process quality and profit are the
slowest; see ``experiments/settle/welch.py``), and six years (312 weeks) leaves a margin: after
it the baseline's third year is within 1% of its first in every stock and within 5% in profit
(``tests/test_start.py``). One more week, on the run's
own streams, is week 0: an ordinary settled week with real flows (revenue, costs, quits, hires,
referrals).

Caching. A start depends only on its parameters, the seed and the model's code, so it is built
once and kept, pickled, in memory (for the page) and on disk (for the command line and sweeps;
see :mod:`sim.cache`). A cached start gives the same bits as a fresh one.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from dataclasses import dataclass

from sim import cache, leadership, networks, workforce
from sim.metrics import KPI_COLUMNS
from sim.params import Params
from sim.population import build_market, build_units, build_workforce
from sim.rng import Streams
from sim.week import Organisation, Week, run_week

SETTLE_WEEKS = 312  # warm-up before week 0 (Welch's method, see above)
SETTLE_STREAMS = "settle."  # prefix of the settling weeks' random streams
MEMORY_CACHE_BYTES = 512 * 2**20


@dataclass
class Start:
    """A settled organisation and its week 0."""

    params: Params  # the start parameters (today's policies and the world)
    organisation: Organisation
    week0: Week
    settle_weeks: int  # weeks it took to settle


def build(params: Params, streams: Streams) -> Organisation:
    """A first guess of the organisation (see :mod:`sim.population`), not yet settled."""
    units = build_units(params, streams)
    wf = build_workforce(units, params, streams)
    market = build_market(units, params, streams)
    peers = networks.graph_adjacency(networks.peer_network(params, units, wf, streams), wf.n)
    src, dst = networks.word_of_mouth_edges(
        units, params.wom_degree, params.wom_nonlocal, streams
    )
    org = Organisation(
        units, wf, market, peers, networks.adjacency(src, dst, market.n)
    )
    lead = leadership.behaviour(params, units)
    workforce.settle(params, wf, lead, units, org.team_size(), peers)
    return org


def settle(params: Params, seed: int) -> Start:
    """Build today's organisation for ``params`` and ``seed`` and run it until it is steady."""
    streams = Streams(seed)
    org = build(params, streams)
    run_settling_weeks(org, params, streams)
    return finish(params, org, streams)


def run_settling_weeks(org: Organisation, params: Params, streams: Streams) -> None:
    """The ``SETTLE_WEEKS`` weeks before week 0, on the settling streams."""
    for week in range(1, SETTLE_WEEKS + 1):
        run_week(org, params, streams, week, stream=SETTLE_STREAMS)


def finish(params: Params, org: Organisation, streams: Streams) -> Start:
    """A settled organisation's week 0, on the run's own streams: its start."""
    # renumber pending hires so that settle week SETTLE_WEEKS + 1 becomes week 0
    pending = org.workforce.ti_hire >= 0
    org.workforce.ti_hire[pending] -= SETTLE_WEEKS + 1
    week0 = run_week(org, params, streams, 0)
    return Start(params, org, week0, SETTLE_WEEKS)


# --- cache --------------------------------------------------------------------------------------
_memory: OrderedDict[str, bytes] = OrderedDict()


def today(params: Params, seed: int) -> Start:
    """The settled start for ``params`` and ``seed``: from memory, disk, or built now.

    Returns a fresh copy each call (runs change their organisation in place).
    """
    start = kept(params, seed)
    return start if start is not None else keep(settle(params, seed), seed)


def kept(params: Params, seed: int) -> Start | None:
    """The start for ``params`` and ``seed`` if memory or disk holds it (a fresh copy)."""
    name = _entry(params, seed)
    blob = _memory.get(name)
    if blob is not None:
        _memory.move_to_end(name)
        return pickle.loads(blob)
    blob = cache.read("starts", name)
    try:
        start = pickle.loads(blob) if blob is not None else None
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError):
        return None  # a damaged entry is rebuilt
    if start is not None:
        _remember(name, blob)
    return start


def keep(start: Start, seed: int) -> Start:
    """Store a start just settled for ``seed`` (memory and disk); a fresh copy of it."""
    blob = pickle.dumps(start, protocol=pickle.HIGHEST_PROTOCOL)
    name = _entry(start.params, seed)
    cache.write("starts", name, blob)
    _remember(name, blob)
    return pickle.loads(blob)


def is_kept(params: Params, seed: int) -> bool:
    """Whether memory or disk holds the start for ``params`` and ``seed``."""
    name = _entry(params, seed)
    where = cache.folder("starts")
    return name in _memory or (where is not None and (where / name).is_file())


def _entry(params: Params, seed: int) -> str:
    return cache.key("start", sorted(params.to_dict().items()), int(seed), KPI_COLUMNS) + ".pkl"


def _remember(name: str, blob: bytes) -> None:
    _memory[name] = blob
    while len(_memory) > 1 and sum(map(len, _memory.values())) > MEMORY_CACHE_BYTES:
        _memory.popitem(last=False)
