"""``tsx.nnx.Optimizer``: ``nnx.Optimizer`` with the TrainState's feature pieces.

Flax NNX keeps a model's parameters in the model and the optimizer state in
an ``nnx.Optimizer`` beside it; ``optimizer.update(model, grads)`` runs one
step in place. :class:`Optimizer` is that object with the features of the
Linen :class:`tsx.training.TrainState`, each off unless asked for:

===========================  ==============================================
argument                     feature (attribute)
===========================  ==============================================
``accumulate_steps=k``       the optimizer runs on the mean of ``k`` calls'
                             gradients (``accumulation``)
``skip_nonfinite=True``,     steps that would store NaN/Inf are refused and
``loss_scale=``              counted (``skipped_steps``); the dynamic loss
                             scale (``loss_scale``, :meth:`value_and_grad`)
``skip_spikes=``             gradient-norm or loss spikes are refused too
                             (:class:`tsx.training.SpikeRule`)
``ema_decay=`` (+ warm-up,   an exponential moving average of the params
``ema_every=``)              (``ema_params``, :meth:`ema_model`)
``telemetry=True``           the last step's scalars (``telemetry``)
``zero_axis=``               optimizer state, EMA and accumulated gradient
                             split over a mesh axis (ZeRO-1)
===========================  ==============================================

One ``update`` is one :meth:`tsx.training.TrainState.apply_gradients` on the
model's parameters: the same pieces in the same order, so an NNX model and
the equivalent Linen params follow the same numbers. ``step`` counts applied
optimizer updates (as the TrainState's), not calls.
"""

from collections.abc import Callable, Sequence
from typing import Any

import jax
from flax import nnx
from flax.nnx.training.optimizer import OptState, to_opt_state

from tsx._base import GradientTransformation
from tsx.training import (
    AccumulateSteps,
    DynamicLossScale,
    EmaWarmup,
    SpikeRule,
    TrainState,
    value_and_grad,
)

__all__ = ["Optimizer"]

# The TrainState pieces kept beside the optimizer state.
_FEATURES = ("accumulation", "guard", "ema", "telemetry", "update_applied")


def _with_extra_args(tx: Any, extra_args: dict[str, Any]) -> GradientTransformation:
    """``tx`` whose ``update`` receives ``extra_args`` (``value=``, ``value_fn=``)."""
    if not extra_args:
        return tx

    def update(updates: Any, state: Any, params: Any = None) -> tuple[Any, Any]:
        return tx.update(updates, state, params, **extra_args)

    return GradientTransformation(tx.init, update)


def _no_apply(*args: Any, **kwargs: Any) -> Any:
    raise TypeError("tsx.nnx.Optimizer keeps no apply function; call the model.")


class Optimizer(nnx.Optimizer):
    """``nnx.Optimizer`` plus accumulation, the non-finite guard, EMA, ZeRO-1.

    Args:
      model: the NNX module whose parameters are trained.
      tx: a gradient transformation (tsx or Optax).
      wrt: the filter of the trained variables (``nnx.Param``), as in
        ``nnx.Optimizer``; use the same one in ``nnx.grad``.
      accumulate_steps: ``k`` (int >= 1) or a schedule ``step -> k``: the
        optimizer runs once every ``k`` calls, on the mean gradient.
      skip_nonfinite: refuse steps whose gradient, new params or new
        optimizer state are not finite (they count in ``skipped_steps``).
      loss_scale: a :class:`tsx.training.DynamicLossScale`; enables the guard.
        Take gradients with :meth:`value_and_grad`, which scales the loss.
      skip_spikes: a :class:`tsx.training.SpikeRule`; enables the guard and
        refuses steps whose gradient norm (or the ``loss=`` given to
        :meth:`update`) is far above its recent values.
      ema_decay: ``d`` in ``[0, 1]``; keeps an EMA of the params.
      ema_warmup: ``True`` for ``d_n = min(d, (1 + n) / (10 + n))``, a
        callable ``n -> d_n`` (capped at ``d``), or ``False``.
      ema_every: average every ``ema_every`` applied updates (>= 1).
      telemetry: record each step's scalars in ``telemetry``.
      zero_axis: a mesh axis to split the optimizer state, the EMA and the
        accumulated gradient over (ZeRO-1); the params keep their shardings,
        which must be ``NamedSharding`` s on one mesh.
      graph: as in ``nnx.Optimizer``.

    The arguments mean what they mean in
    :meth:`tsx.training.TrainState.create`. With the guard, NNX
    ``BatchStat`` variables are still updated by the forward pass, which runs
    before the step is judged; the EMA averages the ``wrt`` variables only.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from flax import nnx
      >>> import tsx, tsx.nnx
      >>> model = nnx.Linear(2, 1, rngs=nnx.Rngs(0))
      >>> optimizer = tsx.nnx.Optimizer(
      ...     model, tsx.adam(0.1), wrt=nnx.Param, skip_nonfinite=True,
      ...     ema_decay=0.9)
      >>> x = jnp.array([[1.0, 2.0], [3.0, 4.0]])
      >>> y = jnp.array([[1.0], [2.0]])
      >>> @nnx.jit
      ... def train_step(model, optimizer, x, y):
      ...     loss_fn = lambda m: jnp.mean((m(x) - y) ** 2)
      ...     loss, grads = nnx.value_and_grad(loss_fn)(model)
      ...     optimizer.update(model, grads)
      ...     return loss
      >>> for _ in range(3):
      ...     loss = train_step(model, optimizer, x, y)
      >>> int(optimizer.step[...]), int(optimizer.skipped_steps)
      (3, 0)
    """

    def __init__(
        self,
        model: Any,
        tx: Any,
        *,
        wrt: Any,
        accumulate_steps: AccumulateSteps | None = None,
        skip_nonfinite: bool = False,
        loss_scale: DynamicLossScale | None = None,
        skip_spikes: SpikeRule | None = None,
        ema_decay: float | None = None,
        ema_warmup: EmaWarmup = False,
        ema_every: int = 1,
        telemetry: bool = False,
        zero_axis: str | None = None,
        graph: bool | None = None,
    ) -> None:
        params = nnx.state(model, wrt, graph=graph)
        # The variables themselves (not their values) unless the state is to
        # be laid out on a mesh: moments then carry the params' metadata.
        state = TrainState.create(
            apply_fn=_no_apply,
            params=params if zero_axis is None else nnx.as_pure(params),
            tx=tx,
            ema_decay=ema_decay,
            ema_warmup=ema_warmup,
            ema_every=ema_every,
            accumulate_steps=accumulate_steps,
            loss_scale=loss_scale,
            skip_nonfinite=skip_nonfinite,
            skip_spikes=skip_spikes,
            telemetry=telemetry,
            zero_axis=zero_axis,
        )
        self.graph = graph
        self.wrt = wrt
        self.tx = tx
        self.step = OptState(state.step)
        self.opt_state = nnx.data(to_opt_state(state.opt_state))
        self.features = nnx.data(
            to_opt_state({name: getattr(state, name) for name in _FEATURES})
        )
        self.layout = nnx.static(state.layout)

    def train_state(self, model: Any, **extra_args: Any) -> TrainState:
        """The Linen :class:`~tsx.training.TrainState` this optimizer holds.

        Its params are ``model``'s (the ``wrt`` variables' values);
        ``extra_args`` go to every ``tx.update`` call of its
        ``apply_gradients``.
        """
        params = nnx.as_pure(nnx.state(model, self.wrt, graph=self.graph))
        return TrainState(
            step=self.step[...],
            apply_fn=_no_apply,
            params=params,
            tx=_with_extra_args(self.tx, extra_args),
            opt_state=nnx.as_pure(self.opt_state),
            layout=self.layout,
            **nnx.as_pure(dict(self.features)),
        )

    def update(  # type: ignore[override]
        self, model: Any, grads: Any, /, *, loss: Any = None, **extra_args: Any
    ) -> None:
        """One call of the pipeline: accumulate, guard, step, EMA, telemetry.

        Args:
          model: the module the optimizer was created for; its ``wrt``
            variables are updated in place.
          grads: the gradients from ``nnx.grad`` (or :meth:`value_and_grad`).
          loss: this call's loss, for a ``SpikeRule(metric="loss")``.
          **extra_args: passed to ``tx.update`` (``value=``, ``grad=``,
            ``value_fn=`` for line searches, Polyak or Sophia).
        """
        grads = nnx.as_pure(nnx.state(grads, self.wrt, graph=self.graph))
        state = self.train_state(model, **extra_args)
        new = state.apply_gradients(grads=grads, loss=loss)
        nnx.update(model, new.params)
        nnx.update(self.opt_state, nnx.state(new.opt_state, graph=self.graph))
        nnx.update(
            self.features,
            nnx.state({name: getattr(new, name) for name in _FEATURES}),
        )
        self.step[...] = new.step

    def value_and_grad(
        self,
        fun: Callable[..., Any],
        argnums: int | Sequence[int] = 0,
        has_aux: bool = False,
    ) -> Callable[..., tuple[Any, Any]]:
        """``nnx.value_and_grad`` of ``fun``, loss-scaled when configured.

        With a loss scale ``S`` the gradient is taken of ``S * loss`` and
        divided by ``S``; the value is ``fun``'s own output.
        """
        return value_and_grad(
            fun,
            self.loss_scale,
            argnums=argnums,
            has_aux=has_aux,
            return_finite=False,
            transform=nnx.value_and_grad,
        )

    def _feature(self, name: str) -> Any:
        return nnx.as_pure(self.features[name])

    @property
    def skipped_steps(self) -> jax.Array | None:
        """Optimizer steps the guard refused (None without the guard)."""
        guard = self._feature("guard")
        return None if guard is None else guard.skipped_steps

    @property
    def loss_scale(self) -> DynamicLossScale | None:
        """The dynamic loss scale, or None."""
        guard = self._feature("guard")
        return None if guard is None else guard.loss_scale

    @property
    def telemetry(self) -> dict[str, jax.Array] | None:
        """The last step's scalars (``telemetry=True``), or None."""
        return self._feature("telemetry")

    @property
    def last_update_applied(self) -> jax.Array:
        """Whether the last ``update`` ran the optimizer (True when untracked)."""
        applied = self._feature("update_applied")
        return jax.numpy.asarray(True) if applied is None else applied

    @property
    def ema_params(self) -> Any:
        """The averaged ``wrt`` variables' values (an ``nnx.State``), or None."""
        ema = self._feature("ema")
        return None if ema is None else ema.params

    def ema_model(self, model: Any) -> Any:
        """A copy of ``model`` holding the averaged parameters, for evaluation."""
        if self.ema_params is None:
            raise ValueError(
                "this optimizer keeps no EMA; create it with ema_decay= to use "
                "ema_model()."
            )
        averaged = nnx.clone(model)
        nnx.update(averaged, self.ema_params)
        return averaged

    def check_finite(self, model: Any) -> None:
        """Raise :class:`tsx.training.NonFiniteStateError` at the first NaN/Inf.

        Checks ``model``'s trained variables, the optimizer state and the EMA
        on the host (outside ``jit``).
        """
        self.train_state(model).check_finite()
