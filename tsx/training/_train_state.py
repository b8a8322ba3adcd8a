"""A Linen ``TrainState`` built from small, optional feature pieces.

:class:`TrainState` subclasses ``flax.training.train_state.TrainState``:
``TrainState.create(apply_fn=..., params=..., tx=...)`` and
``state.apply_gradients(grads=...)`` behave as in Flax. Each extra feature is
one piece with its own state, off (``None``, no leaves, no work) unless asked
for in :meth:`TrainState.create`:

===========================  ===============================  ==================
``create(...)`` argument     field                            piece
===========================  ===============================  ==================
``batch_stats=``             ``batch_stats``                  (Linen's)
``accumulate_steps=``        ``accumulation``                 GradientAccumulation
``skip_nonfinite=True``,     ``guard``                        NonFiniteGuard
``loss_scale=``
``ema_decay=`` (+ warm-up,   ``ema``                          ParamsEMA
``ema_every=``)
``telemetry=True``           ``telemetry``                    step_telemetry
``zero_axis=``               ``layout`` (static)              tsx.sharding layout
===========================  ===============================  ==================

One call of :meth:`TrainState.apply_gradients` with gradient ``g`` is a
pipeline of these pieces:

1. accumulation folds ``g`` into the window's running mean; the optimizer is
   *due* when the window of ``k`` micro-batches is complete;
2. the optimizer runs (only when due and, with the guard, when its input is
   finite);
3. the guard accepts the step only if the new params and optimizer state are
   finite, otherwise everything stays as it was and ``skipped_steps`` grows;
   the loss scale backs off on overflow and grows after a streak;
4. ``step`` counts applied updates; the EMA moves on applied updates with
   ``step % ema_every == 0``;
5. telemetry records the step's scalars.

With ``zero_axis`` (ZeRO-1), the gradient and params enter the optimizer split
over that mesh axis (XLA reduce-scatters the gradient), the optimizer state
and EMA are stored split, and the new params are gathered back to the
layout they came in (:mod:`tsx.sharding`).

Everything that changes is a pytree leaf and the configuration is static,
so the state jits, donates, shards and checkpoints (Orbax) like Flax's.
"""


import dataclasses
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from flax.linen.fp8_ops import OVERWRITE_WITH_GRADIENT
from flax.training import train_state

from tsx import tree_utils as tu
from tsx._update import apply_updates
from tsx.sharding import Layout, reshard
from tsx.training._accumulation import AccumulateSteps, GradientAccumulation
from tsx.training._ema import EmaWarmup, ParamsEMA
from tsx.training._loss_scale import DynamicLossScale, value_and_grad
from tsx.training._nonfinite import NonFiniteGuard, first_nonfinite
from tsx.training._spikes import SpikeRule
from tsx.training._telemetry import float32_norm, step_telemetry
from tsx.validation import BOOL, check, check_updates_like

__all__ = ["NonFiniteStateError", "TrainState"]

_WHO = "TrainState.apply_gradients"


class NonFiniteStateError(ValueError):
    """The training state holds NaN or Inf (see :meth:`TrainState.check_finite`)."""


_USE_TELEMETRY = "create the state with telemetry=True and read state.telemetry"


def _warn_deprecated(what: str, instead: str) -> None:
    warnings.warn(f"{what} is deprecated; {instead}.", DeprecationWarning, stacklevel=3)


def _none() -> None:
    return None


def _split_fp8(tree: Any) -> tuple[Any, Any]:
    """``(trainable, fp8 meta)``: Flax's fp8 "overwrite with gradient" variables.

    They take their gradient as their new value and get no optimizer state.
    """
    if isinstance(tree, Mapping) and OVERWRITE_WITH_GRADIENT in tree:
        return tree["params"], tree[OVERWRITE_WITH_GRADIENT]
    return tree, None


def _join_fp8(params: Any, fp8: Any) -> Any:
    if fp8 is None:
        return params
    return {"params": params, OVERWRITE_WITH_GRADIENT: fp8}


def _same_types(new: Any, old: Any, what: str) -> Any:
    """``new`` with ``old``'s dtypes, which it must already have.

    A step that changes the dtype of a parameter or state leaf (a float32
    update stored into a bfloat16 moment, say) is an error naming the path:
    a silent cast would hide a lost precision or a widened state. Only JAX's
    weak types are made strong, as ``lax.cond`` needs identical types.
    """
    paths = jax.tree_util.tree_flatten_with_path(old)[0]
    new_leaves, treedef = jax.tree.flatten(new)
    out = []
    for (path, o), n in zip(paths, new_leaves, strict=True):
        old_dtype, new_dtype = jnp.result_type(o), jnp.result_type(n)
        if old_dtype != new_dtype:
            raise TypeError(
                f"{_WHO}: the optimizer step turns {what}"
                f"{jax.tree_util.keystr(path)} from {old_dtype} into {new_dtype}; "
                "a transformation must return its state (and updates) in the "
                "dtypes it was created with."
            )
        out.append(jnp.asarray(n).astype(old_dtype))
    return jax.tree.unflatten(treedef, out)


def _show(x: Any) -> str:
    # Concrete scalars print as numbers; tracers (inside jit) as themselves.
    try:
        return str(jnp.asarray(x).item())
    except Exception:  # noqa: BLE001 - abstract values have no item()
        return str(x)


class _AcceptsFlatNames(type):
    """Metaclass: the flat field names of tsx 0.1, deprecated, still accepted.

    ``ema_params``, ``ema_batch_stats``, ``grad_accum``, ``micro_step``,
    ``loss_scale`` and ``skipped_steps`` given to the constructor, and so to
    ``replace`` and ``apply_gradients`` (which build the new state through
    it), set that field inside its piece
    (``replace(ema=state.ema.replace(params=...))``), with a
    ``DeprecationWarning``.
    """

    def __call__(cls, *args: Any, **fields: Any) -> Any:
        for old in _FLAT_NAMES.keys() & fields.keys():
            piece, field = _FLAT_NAMES[old]
            warnings.warn(
                f"TrainState.replace({old}=...) is deprecated; use "
                f"replace({piece}=state.{piece}.replace({field}=...)).",
                DeprecationWarning,
                stacklevel=4,  # replace -> dataclasses.replace -> here
            )
            value = fields.pop(old)
            current = fields.get(piece)
            if current is None:
                raise ValueError(
                    f"TrainState.replace({old}=...): this state has no {piece}; "
                    "enable the feature in TrainState.create."
                )
            fields[piece] = current.replace(**{field: value})
        return super().__call__(*args, **fields)


class TrainState(train_state.TrainState, kw_only=True, metaclass=_AcceptsFlatNames):
    """Flax's ``TrainState`` plus optional batch stats, accumulation, guard, EMA.

    Attributes (beyond Flax's ``step``, ``apply_fn``, ``params``, ``tx``,
    ``opt_state``; each ``None`` when its feature is off):
      batch_stats: Linen's ``batch_stats`` collection, replaced through
        ``apply_gradients(grads=..., batch_stats=...)``.
      accumulation: :class:`~tsx.training.GradientAccumulation`.
      guard: :class:`~tsx.training.NonFiniteGuard` (skipped steps, loss scale).
      ema: :class:`~tsx.training.ParamsEMA` (averages of params, batch stats).
      telemetry: the last step's scalars (:mod:`tsx.training` telemetry).
      update_applied: whether the last ``apply_gradients`` ran the optimizer
        (kept when accumulation or the guard can skip it).

    The names of earlier releases read as properties: ``ema_params``,
    ``ema_batch_stats``, ``grad_accum``, ``micro_step``, ``loss_scale``,
    ``skipped_steps``, ``ema_decay``, ``ema_warmup``, ``ema_every``,
    ``accumulate_steps``, ``skip_nonfinite``.

    Example:
      >>> import jax, jax.numpy as jnp, flax.linen as nn, tsx
      >>> model = nn.Dense(1)
      >>> x = jnp.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
      >>> y = x @ jnp.array([[0.5], [-1.0]])
      >>> state = tsx.training.TrainState.create(
      ...     apply_fn=model.apply,
      ...     params=model.init(jax.random.key(0), x)["params"],
      ...     tx=tsx.adam(0.1),
      ...     ema_decay=0.9,          # an EMA of the params, in state.ema
      ...     skip_nonfinite=True,    # NaN/Inf steps are refused and counted
      ... )
      >>> @jax.jit
      ... def train_step(state, x, y):
      ...     def loss_fn(params):
      ...         return jnp.mean((state.apply_fn({"params": params}, x) - y) ** 2)
      ...     loss, grads = jax.value_and_grad(loss_fn)(state.params)
      ...     return state.apply_gradients(grads=grads), loss
      >>> for _ in range(200):
      ...     state, loss = train_step(state, x, y)
      >>> print(int(state.step), f"{loss:.4f}")
      200 0.0000
      >>> nan_grads = jax.tree.map(lambda g: g * jnp.nan, state.params)
      >>> skipped = state.apply_gradients(grads=nan_grads)
      >>> print(int(skipped.step), int(skipped.skipped_steps))
      200 1
    """

    # With a layout (zero_axis), where each field lives is declared here, by
    # its metadata: "params" keeps the params' own shardings, "split" is
    # split over zero_axis (ZeRO-1), anything else is replicated.
    params: Any = struct.field(metadata={"placement": "params"})
    opt_state: Any = struct.field(metadata={"placement": "split"})
    batch_stats: Any = struct.field(default_factory=_none)
    accumulation: GradientAccumulation | None = struct.field(
        default_factory=_none, metadata={"placement": "split"}
    )
    guard: NonFiniteGuard | None = struct.field(default_factory=_none)
    ema: ParamsEMA | None = struct.field(
        default_factory=_none, metadata={"placement": "split"}
    )
    telemetry: dict[str, jax.Array] | None = struct.field(default_factory=_none)
    update_applied: Any = struct.field(default_factory=_none)
    layout: Layout | None = struct.field(pytree_node=False, default=None)

    @classmethod
    def create(
        cls,
        *,
        apply_fn: Callable[..., Any],
        params: Any,
        tx: Any,
        batch_stats: Any = None,
        ema_decay: float | None = None,
        ema_warmup: EmaWarmup = False,
        ema_every: int = 1,
        accumulate_steps: AccumulateSteps | None = None,
        loss_scale: DynamicLossScale | None = None,
        skip_nonfinite: bool = False,
        skip_spikes: SpikeRule | None = None,
        telemetry: bool = False,
        zero_axis: str | None = None,
        **kwargs: Any,
    ) -> "TrainState":
        """A new state with ``step=0`` and ``opt_state = tx.init(params)``.

        Args:
          apply_fn: usually ``model.apply``.
          params: the parameters (typically ``variables["params"]``).
          tx: a gradient transformation (tsx or Optax).
          batch_stats: Linen's ``batch_stats`` collection, if the model has one.
          ema_decay: ``d`` in ``[0, 1]``; enables the EMA of params (and of
            ``batch_stats`` when given).
          ema_warmup: ``True`` for ``d_n = min(d, (1 + n) / (10 + n))``, a
            callable ``n -> d_n`` (capped at ``d``), or ``False``.
          ema_every: average every ``ema_every`` optimizer updates (>= 1).
          accumulate_steps: ``k`` (int >= 1) or a schedule ``step -> k``: the
            optimizer runs once every ``k`` calls on the mean gradient.
          loss_scale: a :class:`~tsx.training.DynamicLossScale`; enables the
            non-finite guard, which owns the scale.
          skip_nonfinite: refuse steps whose gradient, new params or new
            optimizer state are not finite. Checking the results means
            computing the update inside one fused reduction before taking it
            (its cost against the unguarded step: ``benchmarks/README.md``,
            ``feature_cost.py``).
          skip_spikes: a :class:`~tsx.training.SpikeRule`: also refuse
            finite steps whose gradient norm (or loss) is above the mean plus
            ``threshold`` standard deviations of its recent values. Enables
            the guard.
          telemetry: record each step's scalars in ``telemetry``.
          zero_axis: a mesh axis (usually the data-parallel one) to split the
            optimizer state, the EMA and the accumulated gradient over
            (ZeRO-1, :mod:`tsx.sharding`); the params keep their own
            shardings, which must be ``NamedSharding`` s on one mesh (or call
            ``create`` inside ``with jax.set_mesh(mesh):``). Numbers equal the
            unsplit state's within float32 rounding.
          **kwargs: other fields (for subclasses), as in Flax.
        """
        check("TrainState.create", "skip_nonfinite", skip_nonfinite, BOOL)
        check("TrainState.create", "telemetry", telemetry, BOOL)
        if ema_decay is None and (ema_warmup not in (False, None) or ema_every != 1):
            raise ValueError(
                "TrainState.create: ema_warmup and ema_every need ema_decay=, got "
                f"ema_decay=None with ema_warmup={ema_warmup!r}, "
                f"ema_every={ema_every!r}."
            )
        trainable, _ = _split_fp8(params)
        guarded = skip_nonfinite or loss_scale is not None or skip_spikes is not None
        accumulation = GradientAccumulation.create(trainable, accumulate_steps)
        layout = None
        if zero_axis is not None:
            layout = Layout.of(trainable, zero_axis=zero_axis, who="TrainState.create")
        state = cls(
            step=jnp.zeros([], jnp.int32),
            apply_fn=apply_fn,
            params=params,
            tx=tx,
            opt_state=tx.init(trainable)
            if layout is None
            else layout.init(tx, trainable),
            batch_stats=batch_stats,
            accumulation=accumulation,
            guard=NonFiniteGuard.create(loss_scale, skip_spikes) if guarded else None,
            ema=None
            if ema_decay is None
            else ParamsEMA.create(
                params, batch_stats, decay=ema_decay, warmup=ema_warmup, every=ema_every
            ),
            update_applied=jnp.asarray(False)
            if guarded or accumulation is not None
            else None,
            layout=layout,
            **kwargs,
        )
        if telemetry:
            state = state.replace(telemetry=_empty_telemetry(state))
        # Every array on the mesh, as the layout says (scalars replicated).
        return state if layout is None else reshard(state, state.shardings())

    def apply_gradients(
        self,
        *,
        grads: Any,
        batch_stats: Any = None,
        return_telemetry: bool = False,
        **kwargs: Any,
    ) -> "TrainState | tuple[TrainState, dict[str, jax.Array]]":
        """Feed one (micro-batch) gradient; apply an optimizer update when due.

        Args:
          grads: gradients with the structure, shapes and kinds of ``params``
            (already unscaled when a loss scale is used: :meth:`value_and_grad`
            does it).
          batch_stats: the new ``batch_stats`` from the forward pass; with the
            guard, kept only if this call's gradient is finite.
          return_telemetry: deprecated; use ``create(telemetry=True)`` and read
            ``state.telemetry``. Returns ``(state, telemetry)``.
          **kwargs: other fields to ``replace``, as in Flax; and ``loss=``,
            this call's loss, which a ``SpikeRule(metric="loss")`` needs
            (a subclass field named ``loss`` is set as well).

        Returns:
          The new state.
        """
        # ``loss=`` feeds the spike rule; it also sets a subclass's field.
        is_field = any(f.name == "loss" for f in dataclasses.fields(self))
        loss = kwargs.get("loss") if is_field else kwargs.pop("loss", None)
        grads, fp8_grads = _split_fp8(grads)
        params, fp8_params = _split_fp8(self.params)
        check_updates_like(grads, params, who=_WHO, what="gradients")
        # 1. Accumulation: the gradient the optimizer sees, and whether it is due.
        accumulation, g, due = self.accumulation, grads, jnp.asarray(True)
        if accumulation is not None:
            accumulation, g, due = accumulation.add(grads, self.step)
        # 2. The guard admits the step only if what it would store is finite.
        guard, run = self.guard, due
        if guard is not None:
            guard, run = guard.admit(
                due,
                g,
                self._proposal(g, params),
                (params, self.opt_state),
                self._spike_value(g, loss),
            )
        # 3. The optimizer, when admitted.
        measure = self.telemetry is not None or return_telemetry
        new_params, opt_state, update_norm = self._optimizer_step(
            g, params, run, measure
        )
        applied = None if accumulation is None and guard is None else run
        step = self.step + (1 if applied is None else applied.astype(jnp.int32))
        if applied is not None:
            fp8_grads = tu.tree_where(applied, fp8_grads, fp8_params)
        new_params = _join_fp8(new_params, fp8_grads)
        batch_stats = self._batch_stats_after(batch_stats, grads)
        # 4. The EMA moves on applied updates.
        ema = self.ema
        if ema is not None:
            ema = ema.update(new_params, batch_stats, step, applied is None or applied)
        # 5. Telemetry of the step.
        scalars = None
        if measure:
            scalars = self._telemetry(g, update_norm, opt_state, guard, applied)
        fields = dict(
            step=step,
            params=new_params,
            opt_state=opt_state,
            batch_stats=batch_stats,
            accumulation=accumulation,
            guard=guard,
            ema=ema,
            telemetry=None if self.telemetry is None else scalars,
            update_applied=applied,
        )
        # Explicit keyword fields win, as in Flax's apply_gradients.
        new_state = self.replace(**{**self._placed(**fields), **kwargs})
        if not return_telemetry:
            return new_state
        _warn_deprecated("apply_gradients(return_telemetry=True)", _USE_TELEMETRY)
        return new_state, scalars

    def _spike_value(self, g: Any, loss: Any) -> jax.Array | None:
        """The spike rule's scalar: the gradient's norm or ``loss``."""
        rule = None if self.guard is None else self.guard.spikes
        if rule is None:
            return None
        if rule.metric == "grad_norm":
            return float32_norm(g)
        if loss is None:
            raise ValueError(
                f"{_WHO}: SpikeRule(metric='loss') needs the loss: call "
                "apply_gradients(grads=..., loss=loss)."
            )
        return jnp.asarray(loss, jnp.float32).reshape(())

    def _telemetry(
        self,
        g: Any,
        update_norm: jax.Array,
        opt_state: Any,
        guard: NonFiniteGuard | None,
        applied: jax.Array | None,
    ) -> dict[str, jax.Array]:
        """The step's scalars; also gives ``create`` the keys to start with.

        The loss scale is the one this step ran with (``self``'s); skipped
        steps count this step (``guard``, the guard after it).
        """
        return step_telemetry(
            g,
            update_norm,
            opt_state,
            self.loss_scale,
            None if guard is None else guard.skipped_steps,
            applied,
        )

    def _batch_stats_after(self, batch_stats: Any, grads: Any) -> Any:
        """New batch stats; with the guard, only if this call's gradient is finite."""
        if batch_stats is None:
            return self.batch_stats
        if self.guard is None or self.batch_stats is None:
            return batch_stats
        return tu.tree_where(tu.tree_all_finite(grads), batch_stats, self.batch_stats)

    def shardings(self) -> "TrainState":
        """This state with a ``NamedSharding`` in place of every array.

        For ``jax.jit(..., out_shardings=state.shardings())`` and for the
        target of a checkpoint restore (works on ``jax.eval_shape``'s
        abstract states too). Needs ``create(..., zero_axis=...)``, which
        records the layout: params as given, optimizer state, EMA and
        accumulated gradient split over ``zero_axis``, the rest replicated.
        """
        if self.layout is None:
            raise ValueError(
                "TrainState.shardings() needs the layout that "
                "TrainState.create(..., zero_axis=...) records; this state has "
                "none. Use tsx.sharding.state_shardings for the optimizer state."
            )
        return self.replace(
            **{
                name: self.layout.shardings(
                    getattr(self, name), split=placement == "split"
                )
                for name, placement in _placements(self).items()
            }
        )

    def _placed(self, **fields: Any) -> dict[str, Any]:
        """``fields`` in the layout their metadata declares (params, split)."""
        if self.layout is None:
            return fields
        placements = _placements(self)
        return {
            name: value
            if placements.get(name) not in ("params", "split")
            else self.layout.place(value, split=placements[name] == "split")
            for name, value in fields.items()
        }

    def _update(self, g: Any, opt_state: Any, params: Any) -> tuple[Any, Any, Any]:
        """``(new params, new opt_state, updates)`` of one optimizer step.

        With a layout (``zero_axis``), computed on shards: see
        :meth:`tsx.sharding.Layout.split_update`.
        """

        def update(g: Any, opt_state: Any, params: Any) -> tuple[Any, Any, Any]:
            updates, new_opt_state = self.tx.update(g, opt_state, params)
            new_params = _same_types(apply_updates(params, updates), params, "params")
            new_opt_state = _same_types(new_opt_state, opt_state, "opt_state")
            return new_params, new_opt_state, updates

        if self.layout is None:
            return update(g, opt_state, params)
        return self.layout.split_update(update, g, opt_state, params)

    def _proposal(self, g: Any, params: Any) -> tuple[Any, Any]:
        """What an optimizer step would store: ``(new params, new opt_state)``."""
        new_params, new_opt_state, _ = self._update(g, self.opt_state, params)
        return new_params, new_opt_state

    def _optimizer_step(
        self, g: Any, params: Any, run: jax.Array, measure: bool
    ) -> tuple[Any, Any, jax.Array]:
        """``(new params, new opt_state, update norm)``; the inputs where not ``run``.

        Without a feature that can skip the step (accumulation, the guard)
        the optimizer runs unconditionally, as in Flax.
        """

        def step(operands):
            new_p, new_opt_state, updates = self._update(*operands)
            norm = float32_norm(updates) if measure else jnp.zeros([], jnp.float32)
            return new_p, new_opt_state, norm

        def keep(operands):
            _, opt_state, p = operands
            return p, opt_state, jnp.zeros([], jnp.float32)

        operands = (g, self.opt_state, params)
        if self.accumulation is None and self.guard is None:
            return step(operands)
        return jax.lax.cond(run, step, keep, operands)

    def value_and_grad(
        self,
        fun: Callable[..., Any],
        argnums: int | Sequence[int] = 0,
        has_aux: bool = False,
        *,
        return_finite: bool | None = None,
    ) -> Callable[..., tuple[Any, ...]]:
        """``jax.value_and_grad`` of ``fun``, loss-scaled if configured.

        With a loss scale ``S``: ``grads = grad(S * loss) / S``; the value is
        ``fun``'s unscaled output. See :func:`tsx.training.value_and_grad` for
        ``return_finite``.
        """
        return value_and_grad(
            fun,
            self.loss_scale,
            argnums=argnums,
            has_aux=has_aux,
            return_finite=return_finite,
        )

    def check_finite(self) -> None:
        """Raise :class:`NonFiniteStateError` naming the first non-finite array.

        Checks params, optimizer state, batch stats and the EMA, on the host
        (call it outside ``jit``, e.g. after restoring a checkpoint).
        """
        parts = {
            "params": self.params,
            "opt_state": self.opt_state,
            "batch_stats": self.batch_stats,
            "ema": self.ema,
        }
        for name, tree in parts.items():
            flat = jax.tree_util.tree_flatten_with_path(tree)[0]
            paths = [f"{name}{jax.tree_util.keystr(path)}" for path, _ in flat]
            found = first_nonfinite(paths, [leaf for _, leaf in flat])
            if found is not None:
                raise NonFiniteStateError(
                    f"the training state holds non-finite values at {found}."
                )

    def ema_variables(self) -> dict[str, Any]:
        """The averaged variables, ``{"params": ..., ["batch_stats": ...]}``."""
        if self.ema is None:
            raise ValueError(
                "this TrainState keeps no EMA; create it with ema_decay= to use "
                "ema_variables()/apply_ema()."
            )
        variables = {"params": self.ema.params}
        if self.batch_stats is not None:
            stats = self.ema.batch_stats
            variables["batch_stats"] = self.batch_stats if stats is None else stats
        return variables

    def variables(self) -> dict[str, Any]:
        """``{"params": params[, "batch_stats": batch_stats]}`` for ``apply``."""
        variables = {"params": self.params}
        if self.batch_stats is not None:
            variables["batch_stats"] = self.batch_stats
        return variables

    def apply_ema(self, *args: Any, **kwargs: Any) -> Any:
        """Evaluate with the averaged variables: ``apply_fn(ema_variables(), ...)``."""
        return self.apply_fn(self.ema_variables(), *args, **kwargs)

    @property
    def last_update_applied(self) -> jax.Array:
        """Whether the last ``apply_gradients`` ran the optimizer (True untracked)."""
        if self.update_applied is None:
            return jnp.asarray(True)
        return self.update_applied

    # The flat names of earlier releases, read from the pieces.
    ema_params = property(lambda self: None if self.ema is None else self.ema.params)
    ema_batch_stats = property(
        lambda self: None if self.ema is None else self.ema.batch_stats
    )
    ema_decay = property(lambda self: None if self.ema is None else self.ema.decay)
    ema_warmup = property(lambda self: False if self.ema is None else self.ema.warmup)
    ema_every = property(lambda self: 1 if self.ema is None else self.ema.every)
    grad_accum = property(
        lambda self: None if self.accumulation is None else self.accumulation.mean
    )
    micro_step = property(
        lambda self: None if self.accumulation is None else self.accumulation.count
    )
    accumulate_steps = property(
        lambda self: None if self.accumulation is None else self.accumulation.steps
    )
    loss_scale = property(
        lambda self: None if self.guard is None else self.guard.loss_scale
    )
    skipped_steps = property(
        lambda self: None if self.guard is None else self.guard.skipped_steps
    )
    skip_nonfinite = property(lambda self: self.guard is not None)

    def __repr__(self) -> str:
        leaves = jax.tree.leaves(self.params)
        size = sum(math.prod(getattr(x, "shape", ())) for x in leaves)
        parts = [
            f"step={_show(self.step)}",
            f"params={len(leaves)} arrays/{size:,} elements",
            f"opt_state={len(jax.tree.leaves(self.opt_state))} arrays",
        ]
        if self.batch_stats is not None:
            parts.append(f"batch_stats={len(jax.tree.leaves(self.batch_stats))} arrays")
        if self.accumulation is not None:
            k = self.accumulation.steps
            k = getattr(k, "__name__", "schedule") if callable(k) else k
            parts.append(
                f"accumulation(mean of k={k} micro-batches, "
                f"count={_show(self.accumulation.count)})"
            )
        if self.guard is not None:
            scale = self.guard.loss_scale
            shown = (
                ""
                if scale is None
                else f", loss_scale(S={_show(scale.scale)}, "
                f"good_steps={_show(scale.good_steps)})"
            )
            rule = self.guard.spikes
            if rule is not None:
                shown += (
                    f", spikes({rule.metric} > mean + {rule.threshold} std of "
                    f"{rule.window}, refused={_show(rule.refused)})"
                )
            parts.append(
                f"guard(skipped_steps={_show(self.guard.skipped_steps)}{shown})"
            )
        if self.ema is not None:
            warm = "" if self.ema.warmup in (False, None) else ", warm-up"
            target = (
                "params+batch_stats" if self.ema.batch_stats is not None else "params"
            )
            parts.append(
                f"ema(e <- d e + (1 - d) p over {target}, d={self.ema.decay}{warm}, "
                f"every={self.ema.every})"
            )
        if self.telemetry is not None:
            parts.append(f"telemetry={sorted(self.telemetry)}")
        return f"{type(self).__name__}({', '.join(parts)})"


# Flat field names of earlier releases -> (piece, field in the piece).
_FLAT_NAMES = {
    "ema_params": ("ema", "params"),
    "ema_batch_stats": ("ema", "batch_stats"),
    "grad_accum": ("accumulation", "mean"),
    "micro_step": ("accumulation", "count"),
    "loss_scale": ("guard", "loss_scale"),
    "skipped_steps": ("guard", "skipped_steps"),
}


def _empty_telemetry(state: TrainState) -> dict[str, jax.Array]:
    """Zeros with the keys and types ``apply_gradients`` will fill."""
    trainable, _ = _split_fp8(state.params)
    shapes = jax.eval_shape(
        lambda s, p: s._telemetry(
            p, jnp.zeros([], jnp.float32), s.opt_state, s.guard, s.update_applied
        ),
        state,
        trainable,
    )
    return jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), shapes)


def _placements(state: TrainState) -> dict[str, str | None]:
    """``{field: placement}`` of every pytree field, from its metadata."""
    return {
        f.name: f.metadata.get("placement")
        for f in dataclasses.fields(state)
        if f.metadata.get("pytree_node", True)
    }
