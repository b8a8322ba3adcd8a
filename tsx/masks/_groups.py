"""Parameter groups: per-group learning-rate and weight-decay multipliers, freezing.

PyTorch-style parameter groups on top of any tsx/Optax optimizer. Groups are
chosen by ordered path rules (first match wins, as in
:func:`tsx.masks.labels_by_path`); each group may set

* ``lr_mult`` (``m_lr``): the group trains with learning rate ``m_lr * lr``;
* ``wd_mult`` (``m_wd``): the group decays with ``m_wd * wd``;
* ``frozen=True``: the group's updates are exactly zero and the optimizer
  keeps no state for it (its leaves are ``MaskedNode`` s in the state).

Parameters no rule matches form the default group (``m_lr = m_wd = 1``).

Two ways to give the optimizer:

* a factory, e.g. ``tsx.adamw`` or ``functools.partial(tsx.adamw, b2=0.95)``,
  with ``learning_rate=`` (and ``weight_decay=``): each distinct group gets
  ``factory(learning_rate=m_lr * lr, weight_decay=m_wd * wd)`` applied to its
  parameters only, so every multiplier is exact for any optimizer (schedules
  are multiplied pointwise);
* a built transformation ``tx``: one state is shared by all trainable
  parameters and a group's updates are multiplied by ``m_lr``. That equals a
  learning rate of ``m_lr * lr`` for every optimizer whose update is linear
  in the learning rate (all ``scale_by_learning_rate`` aliases); ``wd_mult``
  needs the factory form, because the decay is folded inside ``tx``.

Example::

    tx = param_groups(
        tsx.adamw,
        {r".*/embedding": dict(lr_mult=0.1), r".*/bias": dict(wd_mult=0.0),
         r"encoder/.*": dict(frozen=True)},
        learning_rate=1e-3, weight_decay=1e-2,
    )
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from tsx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    ScalarOrSchedule,
)
from tsx._combine import named_chain
from tsx.masks._labels import Rule, _rule_items, match_rules
from tsx.masks._paths import unflatten_like
from tsx.transforms._masking import masked
from tsx.validation import check_non_negative

__all__ = ["GroupOptions", "param_groups"]

_KNOWN = ("lr_mult", "wd_mult", "frozen")


class GroupOptions(NamedTuple):
    """One group's treatment: ``lr = lr_mult * lr``, ``wd = wd_mult * wd``, frozen."""

    lr_mult: float = 1.0
    wd_mult: float = 1.0
    frozen: bool = False

    @property
    def name(self) -> str:
        if self == GroupOptions():
            return "default"
        return f"lr_mult={self.lr_mult:g},wd_mult={self.wd_mult:g}"


def _parse(rule: Rule, options: Any) -> GroupOptions:
    if isinstance(options, GroupOptions):
        options = options._asdict()
    if not isinstance(options, Mapping):
        raise ValueError(
            f"param_groups: the options of rule {rule!r} must be a mapping such "
            f"as dict(lr_mult=0.1), got {options!r}."
        )
    unknown = sorted(set(options) - set(_KNOWN))
    if unknown:
        raise ValueError(
            f"param_groups: unknown option {unknown[0]!r} for rule {rule!r}; "
            f"known options are {', '.join(_KNOWN)}."
        )
    lr_mult = options.get("lr_mult", 1.0)
    wd_mult = options.get("wd_mult", 1.0)
    frozen = options.get("frozen", False)
    check_non_negative(f"lr_mult (rule {rule!r})", lr_mult)
    check_non_negative(f"wd_mult (rule {rule!r})", wd_mult)
    if not isinstance(frozen, bool):
        raise ValueError(
            f"frozen (rule {rule!r}) must be True or False, got frozen={frozen!r}."
        )
    return GroupOptions(float(lr_mult), float(wd_mult), frozen)


def _times(value: ScalarOrSchedule, mult: float) -> ScalarOrSchedule:
    if mult == 1.0:
        return value
    if callable(value):
        return lambda count: mult * value(count)
    return mult * value


def _is_transformation(obj: Any) -> bool:
    return isinstance(obj, GradientTransformation) or (
        isinstance(obj, tuple) and hasattr(obj, "init") and hasattr(obj, "update")
    )


def param_groups(
    optimizer: GradientTransformation | Callable[..., GradientTransformation],
    groups: Mapping[Rule, Mapping[str, Any]] | Sequence[tuple[Rule, Mapping]],
    *,
    learning_rate: ScalarOrSchedule | None = None,
    weight_decay: ScalarOrSchedule | None = None,
    syntax: str = "regex",
    allow_unused: bool = False,
) -> GradientTransformationExtraArgs:
    """Per-group learning-rate/weight-decay multipliers and frozen groups.

    For parameter ``p`` in group ``g`` (first matching rule):

        u_p = 0                                   if g is frozen
        u_p = opt(lr = m_lr(g) * lr, wd = m_wd(g) * wd).update(...)_p   otherwise

    (with a built ``tx``: ``u_p = m_lr(g) * tx.update(...)_p``). Frozen
    parameters are masked out of the optimizer, so they allocate no state.

    Args:
      optimizer: a factory ``f(learning_rate=..., [weight_decay=...])`` (such
        as ``tsx.adamw``), or a built transformation (then only ``lr_mult``
        and ``frozen`` are available).
      groups: ordered ``{rule: options}`` or ``[(rule, options), ...]``; a rule
        is a path regex (or glob) or a predicate ``fn(path, param)``; options
        hold ``lr_mult``, ``wd_mult`` (both >= 0, default 1) and ``frozen``.
      learning_rate: base learning rate or schedule (factory form only;
        required there).
      weight_decay: base weight decay or schedule (factory form only; passed
        to the factory only when given).
      syntax: ``"regex"`` (full match) or ``"glob"``.
      allow_unused: accept rules that match no parameter (an error otherwise).

    Returns:
      A transformation whose state is ``{group_name: MaskedState(...)}`` for
      the factory form (one entry per distinct non-frozen group, ``"default"``
      for the unmatched parameters), or ``{"trainable": MaskedState(tx_state)}``
      for a built ``tx``.
    """
    items = [(rule, _parse(rule, opts)) for rule, opts in _rule_items(groups)]
    transform_form = _is_transformation(optimizer)
    if transform_form:
        if learning_rate is not None or weight_decay is not None:
            raise ValueError(
                "param_groups: learning_rate= and weight_decay= go with an "
                "optimizer factory (e.g. tsx.adamw); with a built transformation "
                f"they are already inside it (got learning_rate={learning_rate!r}, "
                f"weight_decay={weight_decay!r})."
            )
        for rule, opts in items:
            if opts.wd_mult != 1.0:
                raise ValueError(
                    f"param_groups: wd_mult={opts.wd_mult:g} (rule {rule!r}) needs "
                    "the optimizer as a factory such as tsx.adamw with "
                    "weight_decay=, since a built transformation folds its decay in."
                )
    else:
        if not callable(optimizer):
            raise ValueError(
                "param_groups: optimizer must be a factory such as tsx.adamw or a "
                f"GradientTransformation, got optimizer={optimizer!r}."
            )
        if learning_rate is None:
            raise ValueError(
                "param_groups: an optimizer factory needs learning_rate=, got "
                "learning_rate=None."
            )
        if weight_decay is None and any(o.wd_mult != 1.0 for _, o in items):
            raise ValueError(
                "param_groups: wd_mult needs weight_decay=, got weight_decay=None."
            )

    def resolve(tree: Any) -> tuple[Any, list[GroupOptions]]:
        _, treedef, values = match_rules(
            tree,
            items,
            GroupOptions(),
            syntax=syntax,
            allow_unused=allow_unused,
            what="param_groups",
        )
        return treedef, values

    def mask(treedef: Any, values: list[GroupOptions], keep: Callable) -> Any:
        return unflatten_like(treedef, [bool(keep(v)) for v in values])

    def finish(treedef: Any, values: list[GroupOptions]) -> Any:
        # Zero the frozen groups (their masked-out updates passed through
        # unchanged) and, with a shared tx, apply the learning-rate multipliers.
        mults = unflatten_like(
            treedef,
            [
                0.0 if v.frozen else (v.lr_mult if transform_form else 1.0)
                for v in values
            ],
        )

        def one(m: float, u: jax.Array) -> jax.Array:
            if m == 1.0:
                return u
            if m == 0.0:
                return jnp.zeros_like(u)
            return (m * u).astype(u.dtype)

        return mults, one

    def build(tree: Any) -> GradientTransformationExtraArgs:
        treedef, values = resolve(tree)
        if transform_form:
            return named_chain(
                ("trainable", masked(optimizer, mask(treedef, values, _trainable)))
            )
        members = []
        for opts in dict.fromkeys(v for v in values if not v.frozen):
            kwargs: dict[str, Any] = {
                "learning_rate": _times(learning_rate, opts.lr_mult)
            }
            if weight_decay is not None:
                kwargs["weight_decay"] = _times(weight_decay, opts.wd_mult)
            members.append(
                (
                    opts.name,
                    masked(optimizer(**kwargs), mask(treedef, values, opts.__eq__)),
                )
            )
        return named_chain(*members)

    def init_fn(params: Any) -> Any:
        return build(params).init(params)

    def update_fn(updates, state, params=None, **extra_args):
        updates, state = build(updates).update(updates, state, params, **extra_args)
        mults, one = finish(*resolve(updates))
        return jax.tree.map(one, mults, updates), state

    return GradientTransformationExtraArgs(init_fn, update_fn)


def _trainable(options: GroupOptions) -> bool:
    return not options.frozen
