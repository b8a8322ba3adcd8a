"""A Linen ``TrainState`` with batch stats, EMA, accumulation, loss scaling, skipping.

:class:`TrainState` subclasses ``flax.training.train_state.TrainState``:
``TrainState.create(apply_fn=..., params=..., tx=...)`` and
``state.apply_gradients(grads=...)`` behave as in Flax. Each extra feature is
off unless asked for in :meth:`TrainState.create`, and a disabled feature's
fields are ``None`` (they cost no memory and no leaves):

============================  ================================================
``create(...)`` argument      fields it fills
============================  ================================================
``batch_stats=``              ``batch_stats``
``ema_decay=`` (+ warm-up,    ``ema_params`` (and ``ema_batch_stats`` with
``ema_every=``)               batch stats)
``accumulate_steps=``         ``grad_accum``, ``micro_step``, ``update_applied``
``loss_scale=``               ``loss_scale``, ``skipped_steps``,
                              ``update_applied``
``skip_nonfinite=True``       ``skipped_steps``, ``update_applied``
============================  ================================================

One call of :meth:`TrainState.apply_gradients` with gradient ``g``:

1. with accumulation, ``g`` joins the running mean ``a`` of the window
   (:mod:`tsx.training.accumulation`); the optimizer runs only when the
   window of ``k`` micro-batches is complete, on ``a``;
2. with skipping (or a loss scale), a non-finite gradient at that point
   skips the update: params, optimizer state and EMA stay as they were and
   ``skipped_steps`` grows by one; the loss scale backs off (or grows after
   its interval of finite steps);
3. ``step`` counts applied optimizer updates; ``update_applied`` says whether
   this call applied one;
4. on an applied update with ``step % ema_every == 0`` the EMA moves:
   ``e <- d_n e + (1 - d_n) p`` (:mod:`tsx.training.ema`).

Everything that changes is a pytree leaf, and the configuration is static,
so the state jits, donates, shards and checkpoints (Orbax) like Flax's.

Example::

    state = TrainState.create(
        apply_fn=model.apply, params=variables["params"],
        batch_stats=variables["batch_stats"], tx=tsx.adamw(1e-3),
        ema_decay=0.999, ema_warmup=True, accumulate_steps=4,
        loss_scale=DynamicLossScale(2.0**15),
    )

    @functools.partial(jax.jit, donate_argnums=0)
    def train_step(state, batch):
        def loss_fn(params):
            logits, upd = state.apply_fn(
                {"params": params, "batch_stats": state.batch_stats},
                batch["x"], mutable=["batch_stats"])
            return loss(logits, batch["y"]), upd["batch_stats"]

        (_, stats), grads, _ = state.value_and_grad(loss_fn, has_aux=True)(
            state.params)
        return state.apply_gradients(
            grads=grads, batch_stats=stats, return_telemetry=True)

    state, scalars = train_step(state, batch)
    writer.write_scalars(int(state.step), scalars)   # clu.metric_writers
    manager.save(step, args=ocp.args.StandardSave(state))   # Orbax
    state = manager.restore(step, args=ocp.args.StandardRestore(fresh_state))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from flax.linen.fp8_ops import OVERWRITE_WITH_GRADIENT
from flax.training import train_state

from tsx._update import apply_updates
from tsx.training._accumulation import (
    AccumulateSteps,
    accumulate,
    check_accumulate_steps,
    steps_at,
)
from tsx.training._ema import EmaWarmup, ema_decay_at, ema_update
from tsx.training._loss_scale import DynamicLossScale, all_finite, value_and_grad
from tsx.training._telemetry import find_hyperparam, global_norm
from tsx.validation import check_in_range

__all__ = ["TrainState"]


def _none() -> None:
    return None


def _copy(tree: Any) -> Any:
    # A real copy: an EMA that aliased the params' buffers could not be
    # donated together with them.
    return jax.tree.map(lambda x: jnp.array(x, copy=True), tree)


def _where(cond: jax.Array, new: Any, old: Any) -> Any:
    return jax.tree.map(
        lambda n, o: jnp.where(cond, n, o).astype(jnp.asarray(o).dtype), new, old
    )


def _like(new: Any, old: Any) -> Any:
    # lax.cond needs both branches to return identical types.
    return jax.tree.map(
        lambda n, o: jnp.asarray(n).astype(jnp.asarray(o).dtype), new, old
    )


def _show(x: Any) -> str:
    # Concrete scalars print as numbers; tracers (inside jit) as themselves.
    try:
        return str(jnp.asarray(x).item())
    except Exception:  # noqa: BLE001 - abstract values have no item()
        return str(x)


def _has_owg(tree: Any) -> bool:
    return isinstance(tree, Mapping) and OVERWRITE_WITH_GRADIENT in tree


class TrainState(train_state.TrainState, kw_only=True):
    """Flax's ``TrainState`` plus optional batch stats, EMA, accumulation and scaling.

    Attributes (beyond Flax's ``step``, ``apply_fn``, ``params``, ``tx``,
    ``opt_state``; each ``None`` when its feature is off):
      batch_stats: Linen's ``batch_stats`` collection, replaced through
        ``apply_gradients(grads=..., batch_stats=...)``.
      ema_params: ``e <- d_n e + (1 - d_n) params`` after real updates.
      ema_batch_stats: the same average of ``batch_stats``.
      grad_accum: running mean of the micro-batch gradients of the window.
      micro_step: micro-batches accumulated in the current window (int32).
      loss_scale: a :class:`~tsx.training.DynamicLossScale`.
      skipped_steps: updates skipped because the gradient was not finite.
      update_applied: whether the last ``apply_gradients`` ran the optimizer.
      ema_decay, ema_warmup, ema_every, accumulate_steps, skip_nonfinite:
        static configuration (see :meth:`create`).
    """

    batch_stats: Any = struct.field(default_factory=_none)
    ema_params: Any = struct.field(default_factory=_none)
    ema_batch_stats: Any = struct.field(default_factory=_none)
    grad_accum: Any = struct.field(default_factory=_none)
    micro_step: Any = struct.field(default_factory=_none)
    loss_scale: DynamicLossScale | None = struct.field(default_factory=_none)
    skipped_steps: Any = struct.field(default_factory=_none)
    update_applied: Any = struct.field(default_factory=_none)
    ema_decay: float | None = struct.field(pytree_node=False, default_factory=_none)
    ema_warmup: EmaWarmup = struct.field(
        pytree_node=False, default_factory=lambda: False
    )
    ema_every: int = struct.field(pytree_node=False, default_factory=lambda: 1)
    accumulate_steps: AccumulateSteps | None = struct.field(
        pytree_node=False, default_factory=_none
    )
    skip_nonfinite: bool = struct.field(
        pytree_node=False, default_factory=lambda: False
    )

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
        **kwargs: Any,
    ) -> TrainState:
        """A new state with ``step=0`` and ``opt_state = tx.init(params)``.

        Args:
          apply_fn: usually ``model.apply``.
          params: the parameters (typically ``variables["params"]``).
          tx: a gradient transformation (tsx or Optax).
          batch_stats: Linen's ``batch_stats`` collection, if the model has one.
          ema_decay: ``d`` in ``[0, 1]``; enables ``ema_params`` (and
            ``ema_batch_stats`` when ``batch_stats`` is given).
          ema_warmup: ``True`` for ``d_n = min(d, (1 + n) / (10 + n))``, a
            callable ``n -> d_n`` (capped at ``d``), or ``False``.
          ema_every: average every ``ema_every`` optimizer updates.
          accumulate_steps: ``k`` (int) or a schedule ``step -> k``: the
            optimizer runs once every ``k`` calls on the mean gradient.
          loss_scale: a :class:`~tsx.training.DynamicLossScale`; implies
            skipping non-finite steps.
          skip_nonfinite: skip updates whose gradient has a NaN or Inf.
          **kwargs: other fields (for subclasses), as in Flax.
        """
        if ema_decay is None:
            if ema_warmup not in (False, None) or ema_every != 1:
                raise ValueError(
                    "ema_warmup and ema_every need ema_decay=, got ema_decay=None "
                    f"with ema_warmup={ema_warmup!r}, ema_every={ema_every!r}."
                )
        else:
            check_in_range("ema_decay", ema_decay, 0.0, 1.0, high_inclusive=True)
            if not isinstance(ema_decay, (int, float)):
                raise ValueError(
                    f"ema_decay must be a Python float, got ema_decay={ema_decay!r}."
                )
            ema_decay = float(ema_decay)
        if (
            isinstance(ema_every, bool)
            or not isinstance(ema_every, int)
            or ema_every < 1
        ):
            raise ValueError(
                f"ema_every must be an int >= 1, got ema_every={ema_every!r}."
            )
        if not (ema_warmup in (False, None, True) or callable(ema_warmup)):
            raise ValueError(
                "ema_warmup must be True, False or a callable n -> decay, got "
                f"ema_warmup={ema_warmup!r}."
            )
        accumulate_steps = check_accumulate_steps(accumulate_steps)
        if loss_scale is not None and not isinstance(loss_scale, DynamicLossScale):
            raise ValueError(
                "loss_scale must be a tsx.training.DynamicLossScale, got "
                f"loss_scale={loss_scale!r}."
            )
        if not isinstance(skip_nonfinite, bool):
            raise ValueError(
                f"skip_nonfinite must be True or False, got {skip_nonfinite!r}."
            )

        # Fp8 "overwrite with gradient" variables take no optimizer state.
        with_opt = params["params"] if _has_owg(params) else params
        opt_state = tx.init(with_opt)
        checking = skip_nonfinite or loss_scale is not None
        extra: dict[str, Any] = {}
        if batch_stats is not None:
            extra["batch_stats"] = batch_stats
        if ema_decay is not None:
            extra["ema_params"] = _copy(params)
            if batch_stats is not None:
                extra["ema_batch_stats"] = _copy(batch_stats)
        if accumulate_steps is not None:
            extra["grad_accum"] = jax.tree.map(jnp.zeros_like, with_opt)
            extra["micro_step"] = jnp.zeros([], jnp.int32)
        if loss_scale is not None:
            extra["loss_scale"] = loss_scale
        if checking:
            extra["skipped_steps"] = jnp.zeros([], jnp.int32)
        if checking or accumulate_steps is not None:
            extra["update_applied"] = jnp.asarray(False)
        return cls(
            step=jnp.zeros([], jnp.int32),
            apply_fn=apply_fn,
            params=params,
            tx=tx,
            opt_state=opt_state,
            ema_decay=ema_decay,
            ema_warmup=ema_warmup,
            ema_every=ema_every,
            accumulate_steps=accumulate_steps,
            skip_nonfinite=checking,
            **extra,
            **kwargs,
        )

    def apply_gradients(
        self,
        *,
        grads: Any,
        batch_stats: Any = None,
        return_telemetry: bool = False,
        **kwargs: Any,
    ) -> TrainState | tuple[TrainState, dict[str, jax.Array]]:
        """Feed one (micro-batch) gradient; apply an optimizer update when due.

        Args:
          grads: gradients shaped like ``params`` (already unscaled when a loss
            scale is used: :meth:`value_and_grad` does it).
          batch_stats: the new ``batch_stats`` from the forward pass; kept only
            if this call's gradient is finite (when checking finiteness).
          return_telemetry: also return a dict of scalars
            (:mod:`tsx.training.telemetry`).
          **kwargs: other fields to ``replace``, as in Flax.

        Returns:
          The new state, or ``(new_state, telemetry)``.
        """
        owg = _has_owg(grads)
        g = grads["params"] if owg else grads
        params = self.params["params"] if owg else self.params
        accumulating = self.accumulate_steps is not None
        checking = self.skip_nonfinite
        step = jnp.asarray(self.step)

        call_finite = all_finite(g) if checking else None
        if accumulating:
            count = self.micro_step
            window = accumulate(self.grad_accum, g, count)
            boundary = count + 1 >= steps_at(self.accumulate_steps, step)
            g_opt = window
        else:
            boundary = jnp.asarray(True)
            g_opt = g
        finite = (
            (call_finite if not accumulating else all_finite(g_opt))
            if checking
            else None
        )

        def run(operands):
            g_in, opt_state, p = operands
            updates, new_opt_state = self.tx.update(g_in, opt_state, p)
            new_p = apply_updates(p, updates)
            norm = (
                global_norm(updates) if return_telemetry else jnp.zeros([], jnp.float32)
            )
            return new_p, new_opt_state, norm

        if not (accumulating or checking):
            applied = None
            new_params, new_opt_state, update_norm = run(
                (g_opt, self.opt_state, params)
            )
            new_step = step + 1
        else:
            applied = boundary & finite if checking else boundary

            def do(operands):
                new_p, new_s, norm = run(operands)
                return _like(new_p, operands[2]), _like(new_s, operands[1]), norm

            def skip(operands):
                _, opt_state, p = operands
                return p, opt_state, jnp.zeros([], jnp.float32)

            new_params, new_opt_state, update_norm = jax.lax.cond(
                applied, do, skip, (g_opt, self.opt_state, params)
            )
            new_step = step + applied.astype(step.dtype)

        updates: dict[str, Any] = {}
        if accumulating:
            updates["grad_accum"] = _where(
                boundary, jax.tree.map(jnp.zeros_like, window), window
            )
            updates["micro_step"] = jnp.where(boundary, 0, self.micro_step + 1).astype(
                jnp.int32
            )
        if checking:
            updates["skipped_steps"] = self.skipped_steps + (boundary & ~finite).astype(
                jnp.int32
            )
        if self.loss_scale is not None:
            updates["loss_scale"] = _where(
                boundary, self.loss_scale.adjust(finite), self.loss_scale
            )
        if applied is not None:
            updates["update_applied"] = applied

        new_batch_stats = self.batch_stats
        if batch_stats is not None:
            new_batch_stats = (
                _where(call_finite, batch_stats, self.batch_stats)
                if checking and self.batch_stats is not None
                else batch_stats
            )

        if owg:
            owg_values = grads[OVERWRITE_WITH_GRADIENT]
            if applied is not None:
                owg_values = _where(
                    applied, owg_values, self.params[OVERWRITE_WITH_GRADIENT]
                )
            new_params = {"params": new_params, OVERWRITE_WITH_GRADIENT: owg_values}

        if self.ema_decay is not None:
            every = self.ema_every
            moves = (new_step % every == 0) if every > 1 else jnp.asarray(True)
            if applied is not None:
                moves = moves & applied
            # n: how many averaging steps came before this one.
            n = new_step // every - 1
            d = ema_decay_at(self.ema_decay, n, self.ema_warmup)
            updates["ema_params"] = _where(
                moves, ema_update(self.ema_params, new_params, d), self.ema_params
            )
            if self.ema_batch_stats is not None and new_batch_stats is not None:
                updates["ema_batch_stats"] = _where(
                    moves,
                    ema_update(self.ema_batch_stats, new_batch_stats, d),
                    self.ema_batch_stats,
                )

        # Explicit keyword fields win, as in Flax's ``apply_gradients``.
        fields = {
            "step": new_step,
            "params": new_params,
            "opt_state": new_opt_state,
            "batch_stats": new_batch_stats,
            **updates,
            **kwargs,
        }
        new_state = self.replace(**fields)
        if not return_telemetry:
            return new_state
        telemetry = {
            "grad_norm": global_norm(g_opt),
            "update_norm": update_norm,
        }
        lr = find_hyperparam(new_opt_state, "learning_rate")
        if lr is not None:
            telemetry["learning_rate"] = jnp.asarray(lr, jnp.float32)
        if self.loss_scale is not None:
            telemetry["loss_scale"] = self.loss_scale.scale
        if checking:
            telemetry["skipped_steps"] = new_state.skipped_steps
        if applied is not None:
            telemetry["update_applied"] = applied.astype(jnp.int32)
        return new_state, telemetry

    def value_and_grad(
        self,
        fun: Callable[..., Any],
        argnums: int | Sequence[int] = 0,
        has_aux: bool = False,
    ) -> Callable[..., tuple[Any, Any, jax.Array]]:
        """``(value, grads, grads_finite)`` of ``fun``, loss-scaled if configured.

        With a loss scale ``S``: ``grads = grad(S * loss) / S``; the value is
        ``fun``'s unscaled output. Pass ``grads`` to :meth:`apply_gradients`,
        which skips the step and backs the scale off if they are not finite.
        """
        return value_and_grad(fun, self.loss_scale, argnums=argnums, has_aux=has_aux)

    def ema_variables(self) -> dict[str, Any]:
        """The averaged variables, ``{"params": ..., ["batch_stats": ...]}``."""
        if self.ema_params is None:
            raise ValueError(
                "this TrainState keeps no EMA; create it with ema_decay= to use "
                "ema_variables()/apply_ema()."
            )
        variables = {"params": self.ema_params}
        if self.batch_stats is not None:
            variables["batch_stats"] = (
                self.ema_batch_stats
                if self.ema_batch_stats is not None
                else self.batch_stats
            )
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

    def __repr__(self) -> str:
        leaves = jax.tree.leaves(self.params)
        size = sum(int(jnp.size(x)) for x in leaves)
        parts = [
            f"step={_show(self.step)}",
            f"params={len(leaves)} arrays/{size:,} elements",
            f"opt_state={len(jax.tree.leaves(self.opt_state))} arrays",
        ]
        if self.batch_stats is not None:
            parts.append(f"batch_stats={len(jax.tree.leaves(self.batch_stats))} arrays")
        if self.ema_decay is not None:
            warm = "" if self.ema_warmup in (False, None) else ", warm-up"
            target = (
                "params+batch_stats" if self.ema_batch_stats is not None else "params"
            )
            parts.append(
                f"ema(e <- d e + (1 - d) p over {target}, d={self.ema_decay}{warm}, "
                f"every={self.ema_every})"
            )
        if self.accumulate_steps is not None:
            k = self.accumulate_steps
            k = getattr(k, "__name__", "schedule") if callable(k) else k
            parts.append(
                f"accumulate(mean of k={k} micro-batches, "
                f"micro_step={_show(self.micro_step)})"
            )
        if self.loss_scale is not None:
            parts.append(
                f"loss_scale(S={_show(self.loss_scale.scale)}, "
                f"good_steps={_show(self.loss_scale.good_steps)})"
            )
        if self.skipped_steps is not None:
            parts.append(f"skipped_steps={_show(self.skipped_steps)}")
        return f"{type(self).__name__}({', '.join(parts)})"

    @property
    def last_update_applied(self) -> jax.Array:
        """Whether the last ``apply_gradients`` ran the optimizer (True untracked)."""
        if self.update_applied is None:
            return jnp.asarray(True)
        return self.update_applied
