"""Muon: momentum orthogonalised by Newton-Schulz iterations.

Jordan et al. (2024), "Muon: An optimizer for hidden layers in neural
networks" (kellerjordan.github.io/posts/muon); Bernstein & Newhouse (2024),
"Old Optimizer, New Norm: An Anthology", arXiv:2409.20325. For a weight
matrix the Nesterov momentum :math:`M_t` of the gradients is replaced by the
nearest semi-orthogonal matrix :math:`UV^\\top` (where :math:`M = U\\Sigma
V^\\top`), approximated without an SVD by a few steps of the odd polynomial

.. math::

   X_0 = M / (\\|M\\|_F + \\epsilon), \\qquad
   X_{k+1} = a X_k + (b A_k + c A_k^2) X_k, \\quad A_k = X_k X_k^\\top,

with :math:`(a, b, c) = (3.4445, -4.7750, 2.0315)`, which drives every
singular value towards 1 (computed on the wide orientation, :math:`m \\le
n`). The step is then scaled by :math:`\\sqrt{\\max(1, n_{out}/n_{in})}` (or
by :math:`\\sqrt{\\max(n_{in}, n_{out})}\\,\\rho` with ``consistent_rms`` =
:math:`\\rho`, Liu et al., 2025, arXiv:2502.16982) and by the learning rate.
:func:`muon` applies this to 2-D parameters and AdamW to the others.

Alternatives to the Frobenius pre-scaling: ``"spectral"`` (exact spectral
norm), ``"aol"`` (row rescaling of the first iteration, arXiv:2512.04632) and
``"schatten"`` (Schatten-4 norm, arXiv:2506.10935).
"""


from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from tsx import numerics
from tsx import tree_utils as tu
from tsx._base import (
    GradientTransformation,
    Params,
    ScalarOrSchedule,
    init_empty_state,
)
from tsx._combine import chain
from tsx.matrix import (
    DIMENSION_NUMBERS,
    DimensionNumbers,
    is_dimension_numbers,
    matrix_view,
    resolve_dimension_numbers,
)
from tsx.optimizers import adamw
from tsx.sharding import auto_axes_update, map_matrices
from tsx.transforms import (
    MaskedNode,
    add_decayed_weights,
    partition,
    scale_by_learning_rate,
)
from tsx.validation import (
    BOOL,
    DECAY,
    DTYPE,
    LEARNING_RATE,
    MASK,
    NON_NEGATIVE,
    OPTIONAL_LEARNING_RATE,
    POSITIVE_INT,
    Kind,
    any_of,
    choice,
    hyperparameters,
    optional,
)

__all__ = [
    "MuonDimensionNumbers",
    "MuonState",
    "muon",
    "orthogonalize_via_newton_schulz",
    "scale_by_muon",
    "scale_by_shape",
]

_PRECONDITIONINGS = ("frobenius", "spectral", "aol", "schatten")
_STANDARD_COEFFS = (3.4445, -4.7750, 2.0315)
# Per-step coefficients tuned for few iterations (Dion, arXiv:2504.05295).
_DION_COEFFS = (
    (4.0848, -6.8946, 2.9270),
    (3.9505, -6.3029, 2.6377),
    (3.7418, -5.5913, 2.3037),
    (2.8769, -3.1427, 1.2046),
    (2.8366, -3.0525, 1.2012),
)
_COEFF_PRESETS = {"standard": _STANDARD_COEFFS, "dion": _DION_COEFFS}

ReshapeFn = Callable[[jax.Array], jax.Array]


def _ns_coeffs_problem(value: Any) -> type[Exception] | None:
    if isinstance(value, jax.core.Tracer):
        return None
    try:
        coeffs = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return TypeError
    if coeffs.ndim not in (1, 2) or coeffs.shape[-1] != 3:
        return ValueError
    return None if np.isfinite(coeffs).all() else ValueError


_NS_COEFFS = Kind(
    "a triple (a, b, c) of finite floats or a sequence of such triples",
    _ns_coeffs_problem,
)
_PRECONDITIONING = choice(*_PRECONDITIONINGS)


# Optax's name for tsx.matrix.DimensionNumbers (the same class).
MuonDimensionNumbers = DimensionNumbers
WeightDimNumOrFn = DimensionNumbers | Params | Callable[[Params], Params | None]


class MuonState(NamedTuple):
    """State of :func:`scale_by_muon`.

    Attributes:
      count: steps taken (int32).
      mu: momentum of the gradients.
      ns_coeffs: the Newton-Schulz coefficients, shape ``(3,)`` or
        ``(steps, 3)``.
    """

    count: jax.Array
    mu: Any
    ns_coeffs: jax.Array


def _ns_step(x: jax.Array, coeffs: jax.Array) -> jax.Array:
    """One Newton-Schulz step ``a X + (b A + c A^2) X`` with ``A = X X^H``."""
    a = x @ x.T.conj()
    poly = coeffs[1] * a + coeffs[2] * a @ a
    return coeffs[0] * x + poly @ x


def _aol_first_step(x: jax.Array, coeffs: jax.Array, eps: float = 1e-8) -> jax.Array:
    # AOL: rescale row i by 1/sqrt(sum_j |A_ij|), which bounds the spectral
    # norm by 1 and reuses A = X X^H for the first polynomial step.
    a = x @ x.T.conj()
    r = jnp.expand_dims(jax.lax.rsqrt(jnp.clip(jnp.abs(a).sum(axis=-1), min=eps)), -1)
    x = x * r
    a = a * r * r.transpose(-1, -2)
    poly = coeffs[1] * a + coeffs[2] * a @ a
    return coeffs[0] * x + poly @ x


def _schatten_first_step(
    x: jax.Array, coeffs: jax.Array, eps: float = 1e-8
) -> jax.Array:
    # ||X X^T||_F is the squared Schatten-4 norm of X: divide X by its root.
    a = x @ x.T
    norm = jnp.clip(jnp.linalg.norm(a, ord="fro", axis=(-2, -1)), min=eps)
    r = jnp.expand_dims(jax.lax.rsqrt(norm), (0, -1))
    x = x * r
    a = a * r**2
    poly = coeffs[1] * a + coeffs[2] * a @ a
    return coeffs[0] * x + poly @ x


def _ns_iteration(preconditioning: str) -> Callable[[Any, jax.Array, Any], jax.Array]:
    """``step(i, x, coeffs)``: the first step may differ from the others."""
    first = {"aol": _aol_first_step, "schatten": _schatten_first_step}.get(
        preconditioning
    )
    if first is None:
        return lambda i, x, c: _ns_step(x, c)
    return lambda i, x, c: jax.lax.cond(
        i == 0, lambda y: first(y, c), lambda y: _ns_step(y, c), x
    )


def orthogonalize_via_newton_schulz(
    x: jax.Array,
    ns_coeffs: jax.Array,
    ns_steps: jax.typing.ArrayLike = 5,
    preconditioning: Literal["frobenius", "spectral", "aol", "schatten"] = "frobenius",
    eps: jax.typing.ArrayLike = 1e-8,
    dimension_numbers: MuonDimensionNumbers | None = None,
) -> jax.Array:
    """Approximate the orthogonal factor ``U V^T`` of ``x`` (see module docs).

    Args:
      x: a matrix, or a tensor with ``dimension_numbers``.
      ns_coeffs: ``(a, b, c)``, shape ``(3,)`` (used for ``ns_steps`` steps)
        or ``(steps, 3)`` (one row per step).
      ns_steps: number of iterations when ``ns_coeffs`` has shape ``(3,)``.
      preconditioning: ``"frobenius"``, ``"spectral"``, ``"aol"`` or
        ``"schatten"``: how ``x`` is scaled into the polynomial's domain.
      eps: added to the pre-scaling norm.
      dimension_numbers: how to view a tensor as a batch of matrices.
    """
    if x.ndim != 2 and not is_dimension_numbers(dimension_numbers):
        raise ValueError(
            "orthogonalize_via_newton_schulz needs a matrix or dimension_numbers; "
            f"got shape {x.shape} and dimension_numbers={dimension_numbers!r}."
        )
    if x.ndim == 2:
        dimension_numbers = MuonDimensionNumbers(0, 1)
    if ns_coeffs.ndim > 2 or ns_coeffs.shape[-1] != 3:
        raise ValueError(
            f"ns_coeffs must have shape (3,) or (n, 3), got {ns_coeffs.shape}."
        )
    if preconditioning not in _PRECONDITIONINGS:
        raise ValueError(
            f"preconditioning must be one of {_PRECONDITIONINGS}, got "
            f"preconditioning={preconditioning!r}."
        )
    step = _ns_iteration(preconditioning)

    def one_matrix(m):
        # Iterate on the wide orientation: X X^T is then the smaller Gram matrix.
        tall = m.shape[0] > m.shape[1]
        if tall:
            m = m.T
        if preconditioning == "frobenius":
            m = m / (jnp.linalg.norm(m, ord="fro") + eps)
        elif preconditioning == "spectral":
            m = m / (jnp.linalg.norm(m, ord=2) + eps)
        coeffs = ns_coeffs.astype(m.dtype)
        if coeffs.ndim == 1:
            m = jax.lax.fori_loop(
                0, ns_steps, lambda i, y: step(i, y, coeffs), m, unroll=True
            )
        else:

            def body(carry, c):
                i, y = carry
                return (i + 1, step(i, y, c)), None

            (_, m), _ = jax.lax.scan(body, (jnp.asarray(0, jnp.int32), m), coeffs)
        return m.T if tall else m

    if x.ndim < 2:
        raise ValueError(
            f"Muon needs parameters of rank >= 2, got shape {x.shape} (rank {x.ndim})."
        )
    to_batch, from_batch, _ = matrix_view(x.shape, dimension_numbers)
    return from_batch(jax.vmap(one_matrix)(to_batch(x)))


@hyperparameters(
    weight_dimension_numbers=DIMENSION_NUMBERS,
    consistent_rms=optional(NON_NEGATIVE),
)
def scale_by_shape(
    weight_dimension_numbers: WeightDimNumOrFn | None = None,
    consistent_rms: jax.typing.ArrayLike | None = None,
) -> GradientTransformation:
    """Scale each matrix update by a function of its fan-in and fan-out.

    ``sqrt(max(1, fan_out / fan_in))`` (width transfer, the default) or, with
    ``consistent_rms``, ``sqrt(max(fan_in, fan_out)) * consistent_rms`` (an
    update RMS independent of the shape, matching AdamW's).
    """

    def scale_one(u, dim_nums):
        _, _, (_, fan_in, fan_out) = matrix_view(u.shape, dim_nums)
        if consistent_rms is None:
            return jnp.sqrt(jnp.maximum(1, fan_out / fan_in)) * u
        return jnp.sqrt(jnp.maximum(fan_in, fan_out)) * consistent_rms * u

    def update_fn(updates, state, params=None):
        del params
        dim_nums = resolve_dimension_numbers(weight_dimension_numbers, updates)
        if dim_nums is None:
            dim_nums = jax.tree.map(lambda _: MuonDimensionNumbers(), updates)
        scaled = jax.tree.map(
            scale_one, updates, dim_nums, is_leaf=is_dimension_numbers
        )
        return scaled, state

    return GradientTransformation(init_empty_state, update_fn)


def _coeff_array(ns_coeffs: Any, ns_steps: Any) -> jax.Array:
    """The coefficients as an array, validated; ``(n, 3)`` keeps the last steps."""
    coeffs = jnp.asarray(ns_coeffs)
    if coeffs.ndim > 2 or coeffs.shape[-1] != 3:
        raise ValueError(
            f"ns_coeffs must have shape (3,) or (n, 3), got shape {coeffs.shape} "
            f"from ns_coeffs={ns_coeffs!r}."
        )
    if coeffs.ndim == 2:
        if not coeffs.shape[0] <= ns_steps:
            raise ValueError(
                f"ns_coeffs has {coeffs.shape[0]} rows, more than ns_steps="
                f"{ns_steps}; pass at most ns_steps rows."
            )
        coeffs = coeffs[-ns_steps:]
    return coeffs


@hyperparameters(
    ns_coeffs=_NS_COEFFS,
    ns_steps=POSITIVE_INT,
    beta=DECAY,
    eps=NON_NEGATIVE,
    mu_dtype=DTYPE,
    nesterov=BOOL,
    adaptive=BOOL,
    preconditioning=_PRECONDITIONING,
    weight_dimension_numbers=DIMENSION_NUMBERS,
)
def scale_by_muon(
    ns_coeffs: tuple[Any, Any, Any] | tuple[tuple[Any, Any, Any], ...] = (
        _STANDARD_COEFFS
    ),
    ns_steps: jax.typing.ArrayLike = 5,
    beta: jax.typing.ArrayLike = 0.95,
    eps: jax.typing.ArrayLike = 1e-8,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: Literal["frobenius", "spectral", "aol", "schatten"] = "frobenius",
    weight_dimension_numbers: WeightDimNumOrFn | None = None,
) -> GradientTransformation:
    """Orthogonalise the (Nesterov) momentum by Newton-Schulz (no learning rate).

    Inside :func:`tsx.sharding.distribute_matrix_work` (which
    ``TrainState.create(..., zero_axis=...)`` enters around the update) its
    matrix work is split over that mesh axis; the numbers do not change.

    Args:
      ns_coeffs: ``(a, b, c)``, or one such triple per step.
      ns_steps: number of Newton-Schulz steps (for a single triple).
      beta: momentum decay, in [0, 1).
      eps: added to the pre-scaling norm.
      mu_dtype: dtype of the momentum (default: the parameters').
      nesterov: orthogonalise the look-ahead ``beta m_hat + (1 - beta) g_hat``
        (both bias-corrected) instead of ``m_hat``.
      adaptive: multiply the orthogonal factor ``O`` by ``<M, O>`` (the dual
        norm of the momentum, arXiv:2409.20325).
      preconditioning: see ``orthogonalize_via_newton_schulz``.
      weight_dimension_numbers: a tree of :class:`MuonDimensionNumbers` (with
        :class:`~tsx.MaskedNode` for skipped leaves) or a function of the
        updates returning one. ``None``: every leaf is a matrix (tsx also
        accepts a tree of matrices here, where Optax takes a single array).
    """
    coeffs0 = _coeff_array(ns_coeffs, ns_steps)
    mu_dtype = None if mu_dtype is None else jnp.dtype(mu_dtype)

    def init_fn(params):
        return MuonState(
            count=jnp.zeros([], jnp.int32),
            mu=tu.tree_zeros_like(params, dtype=mu_dtype),
            ns_coeffs=coeffs0,
        )

    def update_fn(updates, state, params=None):
        del params
        dim_nums = resolve_dimension_numbers(weight_dimension_numbers, updates)
        mu = tu.tree_update_moment(updates, state.mu, beta, 1)
        count = numerics.safe_increment(state.count)
        if nesterov:
            mu_hat = jax.tree.map(
                lambda m, g: beta * m + (1 - beta) * g,
                tu.tree_bias_correction(mu, beta, numerics.safe_increment(count)),
                tu.tree_bias_correction(updates, beta, count),
            )
        else:
            mu_hat = tu.tree_bias_correction(mu, beta, count)

        def orth(m, dn):
            return orthogonalize_via_newton_schulz(
                m, state.ns_coeffs, ns_steps, preconditioning, eps, dn
            )

        # Whole matrices, split over devices inside distribute_matrix_work.
        leaves, treedef = jax.tree.flatten(mu_hat)
        keys = (
            [None] * len(leaves)
            if dim_nums is None
            else treedef.flatten_up_to(dim_nums)
        )
        new_updates = treedef.unflatten(map_matrices(orth, leaves, keys))
        if adaptive:
            new_updates = jax.tree.map(
                lambda m, o: jnp.sum(m.conj() * o) * o, mu_hat, new_updates
            )
        return new_updates, MuonState(
            count=count, mu=tu.tree_cast(mu, mu_dtype), ns_coeffs=state.ns_coeffs
        )

    return GradientTransformation(init_fn, auto_axes_update(update_fn))


@hyperparameters(
    learning_rate=LEARNING_RATE,
    ns_coeffs=any_of(choice("standard", "dion"), _NS_COEFFS),
    ns_steps=POSITIVE_INT,
    beta=DECAY,
    eps=NON_NEGATIVE,
    weight_decay=NON_NEGATIVE,
    weight_decay_mask=MASK,
    mu_dtype=DTYPE,
    nesterov=BOOL,
    adaptive=BOOL,
    preconditioning=_PRECONDITIONING,
    adam_b1=DECAY,
    adam_b2=DECAY,
    adam_eps_root=NON_NEGATIVE,
    adam_weight_decay=NON_NEGATIVE,
    adam_learning_rate=OPTIONAL_LEARNING_RATE,
    muon_weight_dimension_numbers=DIMENSION_NUMBERS,
    consistent_rms=optional(NON_NEGATIVE),
    nu_dtype=DTYPE,
    weight_dimension_numbers=DIMENSION_NUMBERS,
)
def muon(
    learning_rate: ScalarOrSchedule,
    ns_coeffs: tuple[Any, Any, Any] | tuple[tuple[Any, Any, Any], ...] | str = (
        _STANDARD_COEFFS
    ),
    ns_steps: jax.typing.ArrayLike = 5,
    beta: jax.typing.ArrayLike = 0.95,
    eps: jax.typing.ArrayLike = 1e-8,
    weight_decay: jax.typing.ArrayLike = 0.0,
    weight_decay_mask: Any | Callable[[Params], Any] | None = None,
    mu_dtype: Any | None = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: Literal["frobenius", "spectral", "aol", "schatten"] = "frobenius",
    adam_b1: jax.typing.ArrayLike = 0.9,
    adam_b2: jax.typing.ArrayLike = 0.999,
    adam_eps_root: jax.typing.ArrayLike = 0.0,
    adam_weight_decay: jax.typing.ArrayLike = 0.0,
    adam_learning_rate: ScalarOrSchedule | None = None,
    muon_weight_dimension_numbers: WeightDimNumOrFn | None = None,
    consistent_rms: jax.typing.ArrayLike | None = None,
    nu_dtype: Any | None = None,
    weight_dimension_numbers: WeightDimNumOrFn | None = None,
) -> GradientTransformation:
    r"""Muon on matrices (orthogonalised momentum), AdamW on everything else.

    For a matrix parameter :math:`W` (by default every 2-D parameter):

    .. math::

       M_t &= \beta M_{t-1} + (1 - \beta)\, G_t, \qquad
       \tilde M_t = \beta \hat M_t + (1 - \beta) \hat G_t
       \;\text{(Nesterov; else } \hat M_t\text{)}, \\
       U_t &= -\eta_t \left( s\, \mathrm{NS}_k(\tilde M_t) + \lambda W_t \right),

    with bias-corrected :math:`\hat M_t, \hat G_t`, where :math:`\mathrm{NS}_k`
    runs ``ns_steps`` Newton-Schulz iterations
    :math:`X \leftarrow aX + b(XX^\top)X + c(XX^\top)^2X` from
    :math:`X_0 = \tilde M / (\lVert \tilde M \rVert_F + \epsilon)`, approximating
    the orthogonal factor of :math:`\tilde M`, and
    :math:`s = \sqrt{\max(1, \mathrm{fan}_\mathrm{out} / \mathrm{fan}_\mathrm{in})}`.
    Other parameters get AdamW with ``adam_b1``, ``adam_b2``, ``eps``,
    ``adam_eps_root`` and ``adam_weight_decay``.

    Inside :func:`tsx.sharding.distribute_matrix_work` (which
    ``TrainState.create(..., zero_axis=...)`` enters around the update) its
    matrix work is split over that mesh axis; the numbers do not change.

    Args:
      learning_rate: :math:`\eta_t`, a number >= 0 or a schedule
        ``step -> value``.
      ns_coeffs: Newton-Schulz coefficients :math:`(a, b, c)`, one triple or
        one per step, or a preset name ``"standard"`` or ``"dion"``. Default
        ``(3.4445, -4.775, 2.0315)``.
      ns_steps: :math:`k`, Newton-Schulz iterations (an int >= 1). Default 5.
      beta: :math:`\beta`, momentum decay in [0, 1) (``momentum`` in the usage
        guide's ``muon.muon``). Default 0.95.
      eps: :math:`\epsilon` >= 0 of the pre-scaling, and Adam's epsilon.
        Default 1e-8.
      weight_decay: :math:`\lambda` >= 0, Muon's weight decay (multiplied by the
        learning rate). Default 0.
      weight_decay_mask: which Muon parameters decay (a tree of booleans or a
        function ``params -> tree``); None (default): all.
      mu_dtype: dtype of both momenta; None (default): the params'.
      nesterov: Nesterov momentum, for Muon and for Adam. Default True.
      adaptive: scale each orthogonalised update by
        :math:`\langle G, O \rangle` (dual-norm scaling). Default False.
      preconditioning: the normalisation of :math:`X_0`: ``"frobenius"``
        (default), ``"spectral"``, ``"aol"`` or ``"schatten"``.
      adam_b1: AdamW's :math:`\beta_1` in [0, 1). Default 0.9.
      adam_b2: AdamW's :math:`\beta_2` in [0, 1). Default 0.999.
      adam_eps_root: AdamW's :math:`\epsilon_{root}` >= 0. Default 0.
      adam_weight_decay: AdamW's weight decay >= 0. Default 0.
      adam_learning_rate: AdamW's learning rate (number or schedule); None
        (default): ``learning_rate``.
      muon_weight_dimension_numbers: Optax's name of
        ``weight_dimension_numbers`` (give one of the two).
      consistent_rms: if set (>= 0), replace :math:`s` by a scale that gives
        every update this RMS (see ``scale_by_shape``). Default None.
      nu_dtype: dtype of AdamW's second moment (tsx addition); None
        (default): the parameters'.
      weight_dimension_numbers: which dimensions form each matrix: a tree of
        :class:`tsx.matrix.DimensionNumbers` (None leaves go to AdamW), or a
        function of the params returning one; None (default): 2-D parameters
        as ``(fan_in, fan_out)``. The argument's name in Shampoo, SOAP, Kron
        and GaLore too.

    Returns:
      A transformation whose state is a :class:`~tsx.PartitionState` with the
      labels ``"muon"`` and ``"adam"``.

    References:
      Jordan et al., "Muon: An optimizer for hidden layers in neural networks",
      2024, https://kellerjordan.github.io/posts/muon/; Bernstein & Newhouse,
      "Old Optimizer, New Norm: An Anthology", 2024, arXiv:2409.20325.

    Example:
      >>> import jax, jax.numpy as jnp, tsx
      >>> target = {"w": jnp.eye(3), "b": jnp.ones(3)}  # "w" gets Muon, "b" AdamW
      >>> f = lambda p: sum(jnp.sum((p[k] - target[k]) ** 2) for k in p)
      >>> tx = tsx.contrib.muon(learning_rate=0.05)
      >>> params = {"w": jnp.zeros((3, 3)), "b": jnp.zeros(3)}
      >>> state = tx.init(params)
      >>> @jax.jit
      ... def step(params, state):
      ...     updates, state = tx.update(jax.grad(f)(params), state, params)
      ...     return tsx.apply_updates(params, updates), state
      >>> for _ in range(100):
      ...     params, state = step(params, state)
      >>> zeros = jax.tree.map(jnp.zeros_like, params)
      >>> print(f"loss {f(zeros):.2f} -> {f(params):.4f}")
      loss 6.00 -> 0.0048
    """
    if adam_learning_rate is None:
        adam_learning_rate = learning_rate
    if isinstance(ns_coeffs, str):
        ns_coeffs = _COEFF_PRESETS[ns_coeffs]

    if muon_weight_dimension_numbers is not None:
        if weight_dimension_numbers is not None:
            raise ValueError(
                "muon: give weight_dimension_numbers or its Optax name "
                "muon_weight_dimension_numbers, not both."
            )
        weight_dimension_numbers = muon_weight_dimension_numbers
    dims_spec = weight_dimension_numbers
    if dims_spec is None:
        dims_spec = MuonDimensionNumbers()

        def labels_fn(params):
            return jax.tree.map(lambda x: "muon" if x.ndim == 2 else "adam", params)

    else:

        def labels_fn(params):
            dims = resolve_dimension_numbers(dims_spec, params)
            return jax.tree.map(
                lambda dn, sub: jax.tree.map(
                    lambda _: "adam" if dn is None else "muon", sub
                ),
                dims,
                params,
                is_leaf=lambda x: x is None or is_dimension_numbers(x),
            )

    def muon_dims_fn(updates):
        # Inside the partition, non-Muon leaves are MaskedNodes; the dimension
        # numbers must carry MaskedNodes at the same places.
        dims = resolve_dimension_numbers(dims_spec, updates)
        is_muon = jax.tree.map(lambda label: label == "muon", labels_fn(updates))
        return jax.tree.map(
            lambda dn, sub: jax.tree.map(lambda m: dn if m else MaskedNode(), sub),
            dims,
            is_muon,
            is_leaf=lambda x: (
                x is None or is_dimension_numbers(x) or isinstance(x, MaskedNode)
            ),
        )

    muon_tx = chain(
        scale_by_muon(
            ns_coeffs=ns_coeffs,
            ns_steps=ns_steps,
            beta=beta,
            eps=eps,
            mu_dtype=mu_dtype,
            nesterov=nesterov,
            adaptive=adaptive,
            preconditioning=preconditioning,
            weight_dimension_numbers=muon_dims_fn,
        ),
        scale_by_shape(
            weight_dimension_numbers=muon_dims_fn, consistent_rms=consistent_rms
        ),
        add_decayed_weights(weight_decay, weight_decay_mask),
        scale_by_learning_rate(learning_rate),
    )
    adam_tx = adamw(
        learning_rate=adam_learning_rate,
        b1=adam_b1,
        b2=adam_b2,
        eps=eps,
        eps_root=adam_eps_root,
        weight_decay=adam_weight_decay,
        mu_dtype=mu_dtype,
        nesterov=nesterov,
        nu_dtype=nu_dtype,
    )
    return partition(
        transforms={"muon": muon_tx, "adam": adam_tx}, param_labels=labels_fn
    )
