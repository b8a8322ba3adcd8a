r"""The linear assignment problem, solved with two Hungarian-type algorithms.

Given an ``n x m`` cost matrix :math:`C`, find a matching of
:math:`\min(n, m)` rows to distinct columns that minimizes the total cost:

.. math::
    \min_{X \in \{0,1\}^{n \times m}} \sum_{ij} C_{ij} X_{ij} \quad
    \text{s.t.} \quad \sum_j X_{ij} \le 1,\ \sum_i X_{ij} \le 1,\
    \sum_{ij} X_{ij} = \min(n, m).

Both solvers keep dual potentials ``u`` (rows) and ``v`` (columns) with
reduced costs :math:`C_{ij} - u_i - v_j \ge 0`, add one row at a time and
grow the matching along a shortest augmenting path (Dijkstra on reduced
costs), so they run in :math:`O(n^2 m)` and are exact. A wide matrix is
solved as is; a tall one through its transpose.
"""


from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["base_hungarian_algorithm", "hungarian_algorithm"]


def _empty() -> tuple[jax.Array, jax.Array]:
    return jnp.zeros(0, int), jnp.zeros(0, int)


# ---------------------------------------------------------------------------
# hungarian_algorithm: the compact potentials formulation (1-based columns,
# column 0 a virtual source), as in e-maxx's "Hungarian algorithm in O(n^2 m)"
# and the Scenic library.
# ---------------------------------------------------------------------------


def _add_row(cost: jax.Array, carry, row: jax.Array):
    """Insert ``row`` into the matching, updating the potentials."""
    u, v, owner = carry  # owner[j]: 1-based row matched to column j (0: free)
    n, m = cost.shape
    owner = owner.at[0].set(row + 1)
    visited = jnp.zeros(m + 1, bool)
    slack = jnp.full(m, jnp.inf)  # best reduced cost reaching each column
    came_from = jnp.zeros(m, int)  # previous column on that best path

    def grow(state):
        u, v, visited, slack, came_from, col = state
        visited = visited.at[col].set(True)
        unvisited = ~visited[1:]
        r = owner[col]
        reduced = jnp.where(unvisited, cost[r - 1] - u[r] - v[1:], jnp.inf)
        improves = reduced < slack
        came_from = jnp.where(improves, col, came_from)
        slack = jnp.where(improves, reduced, slack)
        step = jnp.min(jnp.where(unvisited, slack, jnp.inf))
        next_col = jnp.argmin(jnp.where(unvisited, slack, jnp.inf)) + 1
        # Shift the duals by the step: visited rows up, visited columns down.
        rows_to_raise = jnp.where(visited, owner, n + 1)  # n + 1: dropped
        u = u.at[rows_to_raise].add(step, mode="drop")
        v = jnp.where(visited, v - step, v)
        slack = jnp.where(unvisited, slack - step, slack)
        return u, v, visited, slack, came_from, next_col

    u, v, _, _, came_from, col = jax.lax.while_loop(
        lambda s: owner[s[-1]] != 0,
        grow,
        (u, v, visited, slack, came_from, jnp.zeros((), int)),
    )

    def flip(state):
        owner, col = state
        prev = came_from[col - 1]
        return owner.at[col].set(owner[prev]), prev

    owner, _ = jax.lax.while_loop(lambda s: s[1] != 0, flip, (owner, col))
    return (u, v, owner), None


def hungarian_algorithm(cost_matrix: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""Solve the linear assignment problem (Hungarian algorithm, Kuhn-Munkres).

    The compact shortest-augmenting-path formulation with row and column
    potentials; its traced program is smaller and usually faster than
    :func:`base_hungarian_algorithm`'s.

    Args:
      cost_matrix: an ``n x m`` matrix of costs.

    Returns:
      ``(i, j)``, arrays of :math:`\min(n, m)` row and column indices with
      ``cost_matrix[i, j].sum()`` the minimal cost. For a square matrix ``j``
      is ``arange(n)`` and ``i`` the row matched to each column; otherwise
      the pairs come by decreasing index along the shorter side.

    References:
      Kuhn, "The Hungarian method for the assignment problem", Naval Research
      Logistics Quarterly 2, 1955; Dehghani et al., "Scenic: A JAX Library
      for Computer Vision Research and Beyond", CVPR 2022, arXiv:2110.11403.
    """
    cost = jnp.asarray(cost_matrix)
    if cost.shape[0] == 0 or cost.shape[1] == 0:
        return _empty()
    transposed = cost.shape[0] > cost.shape[1]
    if transposed:
        cost = cost.T
    n, m = cost.shape
    init = (jnp.zeros(n + 2), jnp.zeros(m + 1), jnp.zeros(m + 1, int))
    (_, _, owner), _ = jax.lax.scan(
        lambda carry, row: _add_row(cost, carry, row), init, jnp.arange(n)
    )
    if n == m:
        rows, cols = owner[1:], jnp.arange(n)
    else:
        # The n matched columns, by decreasing row.
        rows, cols = jax.lax.top_k(owner[1:], n)
    rows = rows - 1
    return (cols, rows) if transposed else (rows, cols)


# ---------------------------------------------------------------------------
# base_hungarian_algorithm: Crouse's shortest augmenting path algorithm (the
# one behind scipy.optimize.linear_sum_assignment), with explicit Dijkstra
# bookkeeping.
# ---------------------------------------------------------------------------


class _Search(NamedTuple):
    """Dijkstra state of one augmenting-path search (columns as nodes)."""

    row: jax.Array  # the row whose edges are relaxed next
    base: jax.Array  # distance of the last settled column
    n_todo: jax.Array  # number of unsettled columns, listed in todo[:n_todo]
    todo: jax.Array
    rows_seen: jax.Array
    cols_seen: jax.Array
    dist: jax.Array  # shortest reduced-cost distance to each column
    pred: jax.Array  # row preceding each column on its shortest path
    sink: jax.Array  # the free column reached (-1 while searching)


def _shortest_augmenting_path(cost, u, v, row4col, pred, start_row) -> _Search:
    n, m = cost.shape

    def relax(k, acc):
        dist, pred, best, best_k, s = acc
        j = s.todo[k]
        reduced = s.base + cost[s.row, j] - u[s.row] - v[j]
        pred = pred.at[j].set(jnp.where(reduced < dist[j], s.row, pred[j]))
        dist = dist.at[j].min(reduced)
        # Nearest column; among equals, a free one ends the search sooner.
        better = (dist[j] < best) | ((dist[j] == best) & (row4col[j] == -1))
        best_k = jnp.where(better, k, best_k)
        return dist, pred, jnp.minimum(best, dist[j]), best_k, s

    def settle(s: _Search) -> _Search:
        s = s._replace(rows_seen=s.rows_seen.at[s.row].set(True))
        dist, pred, best, best_k, _ = jax.lax.fori_loop(
            0, s.n_todo, relax, (s.dist, s.pred, jnp.inf, -1, s)
        )
        j = s.todo[best_k]
        free = row4col[j] == -1
        n_todo = s.n_todo - 1
        return _Search(
            row=jnp.where(free, s.row, row4col[j]),
            base=best,
            n_todo=n_todo,
            # Drop column j from the unsettled list (swap with the last one).
            todo=s.todo.at[best_k].set(s.todo[n_todo]),
            rows_seen=s.rows_seen,
            cols_seen=s.cols_seen.at[j].set(True),
            dist=dist,
            pred=pred,
            sink=jnp.where(free, j, s.sink),
        )

    start = _Search(
        row=start_row,
        base=jnp.zeros((), cost.dtype),
        n_todo=jnp.asarray(m),
        todo=jnp.arange(m)[::-1],
        rows_seen=jnp.zeros(n, bool),
        cols_seen=jnp.zeros(m, bool),
        dist=jnp.full(m, jnp.inf, cost.dtype),
        pred=pred,
        sink=jnp.asarray(-1),
    )
    return jax.lax.while_loop(lambda s: s.sink == -1, settle, start)


def _augment_from(row, carry):
    """Add ``row`` to the matching: search, update the duals, flip the path."""
    cost, u, v, pred, row4col, col4row = carry
    n = cost.shape[0]
    s = _shortest_augmenting_path(cost, u, v, row4col, pred, row)
    # Keeps reduced costs non-negative and zero along the new matching.
    u = u.at[row].add(s.base)
    others = s.rows_seen & (jnp.arange(n) != row)
    u = jnp.where(others, u + s.base - s.dist[col4row], u)
    v = jnp.where(s.cols_seen, v + s.dist - s.base, v)

    def flip(state):
        j, row4col, col4row, _ = state
        i = s.pred[j]
        row4col = row4col.at[j].set(i)
        col4row, j = col4row.at[i].set(j), col4row[i]
        return j, row4col, col4row, i == row

    _, row4col, col4row, _ = jax.lax.while_loop(
        lambda state: ~state[-1], flip, (s.sink, row4col, col4row, False)
    )
    return cost, u, v, s.pred, row4col, col4row


def base_hungarian_algorithm(cost_matrix: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""Solve the linear assignment problem with Crouse's augmenting-path method.

    Each row is added by a Dijkstra search for the shortest augmenting path
    in reduced costs, followed by a dual update and a flip of the path.

    Args:
      cost_matrix: an ``n x m`` matrix of costs.

    Returns:
      ``(i, j)``, arrays of :math:`\min(n, m)` row and column indices sorted
      by row, with ``cost_matrix[i, j].sum()`` the minimal cost.

    References:
      Crouse, "On implementing 2D rectangular assignment algorithms", IEEE
      Transactions on Aerospace and Electronic Systems 52(4), 2016,
      pp. 1679-1696 (pseudocode pp. 1685-1686).
    """
    cost = jnp.asarray(cost_matrix)
    if cost.shape[0] == 0 or cost.shape[1] == 0:
        return _empty()
    transposed = cost.shape[1] < cost.shape[0]
    if transposed:
        cost = cost.T
    cost = cost.astype(float)
    n, m = cost.shape
    carry = (
        cost,
        jnp.zeros(n, cost.dtype),
        jnp.zeros(m, cost.dtype),
        jnp.full(m, -1),
        jnp.full(m, -1),
        jnp.full(n, -1),
    )
    col4row = jax.lax.fori_loop(0, n, _augment_from, carry)[-1]
    if transposed:
        order = col4row.argsort()
        return col4row[order], order
    return jnp.arange(n), col4row
