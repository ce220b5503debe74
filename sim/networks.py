"""The model's networks: org hierarchy, employee peers, customers' word of mouth, service ties.

Graphs are built once with networkx (seeded from the run seed) and then kept as sparse adjacency
matrices for the hot path: a neighbour sum is one sparse mat-vec. The customers' network can be
millions of nodes, so it is generated directly as edge arrays (a ring lattice per local market with
a share of ties rewired, as in Watts-Strogatz) and turned into a networkx graph only on request.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import scipy.sparse as sp

from sim.params import Params
from sim.rng import Streams
from sim.state import Encounters, Units, Workforce


def adjacency(src: np.ndarray, dst: np.ndarray, n: int) -> sp.csr_matrix:
    """Symmetric 0/1 adjacency (float64 CSR) from undirected edge arrays."""
    rows = np.concatenate([src, dst])
    cols = np.concatenate([dst, src])
    data = np.ones(len(rows))
    matrix = sp.csr_matrix((data, (rows, cols)), shape=(n, n))
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def org_hierarchy(units: Units, workforce: Workforce) -> nx.DiGraph:
    """Organisation -> unit -> manager -> positions, as a directed tree."""
    graph = nx.DiGraph()
    graph.add_node("org", kind="organisation")
    for u in range(units.n):
        graph.add_edge("org", ("unit", u))
        graph.add_edge(("unit", u), ("manager", u))
        graph.nodes[("unit", u)]["kind"] = "unit"
        graph.nodes[("manager", u)]["kind"] = "manager"
    positions = np.arange(workforce.n)
    graph.add_edges_from(
        zip([("manager", int(u)) for u in workforce.unit], positions.tolist(), strict=True)
    )
    nx.set_node_attributes(graph, {int(i): "position" for i in positions}, "kind")
    return graph


def peer_network(params: Params, units: Units, workforce: Workforce, streams: Streams
                 ) -> nx.Graph:
    """Peers among positions: dense within a unit, sparse across units (for contagion)."""
    graph = nx.Graph()
    graph.add_nodes_from(range(workforce.n))
    seed = streams.nx_seed("network.peers")
    for u in range(units.n):
        start, count = int(units.position_start[u]), int(units.position_count[u])
        local = nx.fast_gnp_random_graph(count, params.peer_p_within, seed=seed + u)
        graph.add_edges_from((a + start, b + start) for a, b in local.edges)
    n_cross = int(round(params.peer_cross_per_head * workforce.n / 2)) if units.n > 1 else 0
    if n_cross:
        rng = streams.generator("network.peers.cross")
        a = rng.integers(0, workforce.n, n_cross)
        b = rng.integers(0, workforce.n, n_cross)
        keep = workforce.unit[a] != workforce.unit[b]
        graph.add_edges_from(zip(a[keep].tolist(), b[keep].tolist(), strict=True))
    return graph


def graph_adjacency(graph: nx.Graph, n: int) -> sp.csr_matrix:
    """Adjacency of a graph whose nodes are the integers 0..n-1."""
    edges = np.array(graph.edges, dtype=np.int64).reshape(-1, 2)
    return adjacency(edges[:, 0], edges[:, 1], n)


def word_of_mouth_edges(
    units: Units, degree: int, nonlocal_share: float, streams: Streams
) -> tuple[np.ndarray, np.ndarray]:
    """Undirected customer ties: a ring lattice inside each local market, some ties rewired.

    Each person links to the next ``degree // 2`` people of their local market; then a share
    ``nonlocal_share`` of the ties is rewired to a random person anywhere in the market.
    """
    n = int(units.customer_count.sum())
    unit_of = np.repeat(np.arange(units.n), units.customer_count)
    local = np.arange(n) - units.customer_start[unit_of]
    size = units.customer_count[unit_of]
    half = max(1, degree // 2)
    src = np.tile(np.arange(n), half)
    hop = np.repeat(np.arange(1, half + 1), n)
    dst = units.customer_start[np.tile(unit_of, half)] + (np.tile(local, half) + hop) % np.tile(
        size, half
    )
    rng = streams.generator("network.customers")
    rewire = rng.random(len(src)) < nonlocal_share
    dst[rewire] = rng.integers(0, n, int(rewire.sum()))
    keep = src != dst
    return src[keep], dst[keep]


def service_ties(encounters: Encounters) -> nx.Graph:
    """Bipartite graph of this week's encounters: ("employee", position) - ("customer", slot)."""
    graph = nx.Graph()
    served = encounters.employee >= 0
    for e, c, q in zip(
        encounters.employee[served].tolist(),
        encounters.customer[served].tolist(),
        encounters.quality[served].tolist(),
        strict=True,
    ):
        graph.add_edge(("employee", e), ("customer", c), quality=q)
    return graph


def to_networkx(matrix: sp.csr_matrix) -> nx.Graph:
    """A networkx view of a symmetric adjacency matrix (built on request; may be large)."""
    upper = sp.triu(matrix, k=1).tocoo()
    graph = nx.Graph()
    graph.add_nodes_from(range(matrix.shape[0]))
    graph.add_edges_from(zip(upper.row.tolist(), upper.col.tolist(), strict=True))
    return graph
