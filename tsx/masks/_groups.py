"""Parameter groups: per-group learning-rate and weight-decay multipliers, freezing.

PyTorch-style parameter groups on top of any tsx/Optax optimizer. Groups are
chosen by ordered path rules (first match wins, as in
:func:`tsx.masks.labels_by_path`); each group may set

* ``lr_mult`` (``m_lr``): the group trains with learning rate ``m_lr * lr``;
* ``wd_mult`` (``m_wd``): the group decays with ``m_wd * wd``;
* ``frozen=True``: the group's updates are exactly zero and the optimizer
  keeps no state for it.

Parameters no rule matches form the default group (``m_lr = m_wd = 1``).

It is :func:`tsx.partition` with one transformation per group, built once:

* given a factory, e.g. ``tsx.adamw`` or ``functools.partial(tsx.adamw,
  b2=0.95)``, with ``learning_rate=`` (and ``weight_decay=``), each distinct
  group gets ``factory(learning_rate=m_lr * lr, weight_decay=m_wd * wd)``
  (schedules are multiplied pointwise) and frozen groups get
  :func:`tsx.set_to_zero`; the state is the ``PartitionState`` that the same
  partition written by hand would have, keyed by the group names (see
  :class:`GroupOptions`);
* given a built transformation ``tx``, the trainable parameters share one
  ``tx`` (``partition({"trainable": tx, "frozen": set_to_zero()})``) and a
  group's updates are then multiplied by ``m_lr``. That equals a learning
  rate of ``m_lr * lr`` for every optimizer whose update is linear in the
  learning rate (all ``scale_by_learning_rate`` aliases); ``wd_mult`` needs
  the factory form, because the decay is folded inside ``tx``.

Example::

    tx = param_groups(
        tsx.adamw,
        {r".*/embedding": dict(lr_mult=0.1), r".*/bias": dict(wd_mult=0.0),
         r"encoder/.*": dict(frozen=True)},
        learning_rate=1e-3, weight_decay=1e-2,
    )
"""


from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax

from tsx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    ScalarOrSchedule,
    init_empty_state,
    set_to_zero,
)
from tsx._combine import chain
from tsx.masks._labels import Rule, match_rules, rule_items
from tsx.masks._paths import unflatten_like
from tsx.transforms import partition
from tsx.validation import (
    BOOL,
    FUNCTION,
    NON_NEGATIVE,
    OPTIONAL_LEARNING_RATE,
    TRANSFORMATION,
    any_of,
    check,
    choice,
    hyperparameters,
    is_transformation,
    optional,
    schedule_or,
)

__all__ = ["GroupOptions", "param_groups"]

_KNOWN = ("lr_mult", "wd_mult", "frozen")


class GroupOptions(NamedTuple):
    """One group's treatment: ``lr = lr_mult * lr``, ``wd = wd_mult * wd``, frozen."""

    lr_mult: float = 1.0
    wd_mult: float = 1.0
    frozen: bool = False

    @property
    def name(self) -> str:
        """The group's label: ``"default"``, ``"frozen"`` or its multipliers."""
        if self.frozen:
            return "frozen"
        if self == GroupOptions():
            return "default"
        return f"lr_mult={self.lr_mult:g},wd_mult={self.wd_mult:g}"


def _parse(rule: Rule, options: Any) -> GroupOptions:
    if isinstance(options, GroupOptions):
        options = options._asdict()
    if not isinstance(options, Mapping):
        raise TypeError(
            f"param_groups: the options of rule {rule!r} must be a mapping such "
            f"as dict(lr_mult=0.1), got {options!r}."
        )
    unknown = sorted(set(options) - set(_KNOWN))
    if unknown:
        raise ValueError(
            f"param_groups: unknown option {unknown[0]!r} for rule {rule!r}; "
            f"known options are {', '.join(_KNOWN)}."
        )
    who = f"param_groups (rule {rule!r})"
    lr_mult = options.get("lr_mult", 1.0)
    wd_mult = options.get("wd_mult", 1.0)
    frozen = options.get("frozen", False)
    check(who, "lr_mult", lr_mult, NON_NEGATIVE)
    check(who, "wd_mult", wd_mult, NON_NEGATIVE)
    check(who, "frozen", frozen, BOOL)
    return GroupOptions(float(lr_mult), float(wd_mult), frozen)


def _times(value: ScalarOrSchedule, mult: float) -> ScalarOrSchedule:
    if mult == 1.0:
        return value
    if callable(value):
        return lambda count: mult * value(count)
    return mult * value


@hyperparameters(
    optimizer=any_of(TRANSFORMATION, FUNCTION),
    learning_rate=OPTIONAL_LEARNING_RATE,
    weight_decay=optional(schedule_or(NON_NEGATIVE)),
    syntax=choice("regex", "glob"),
    allow_unused=BOOL,
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
    parameters get :func:`tsx.set_to_zero`, so they allocate no state.

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
      :func:`tsx.partition` of the groups' transformations: its state is a
      ``PartitionState`` keyed by group name (factory form) or by
      ``"trainable"``/``"frozen"`` (built form), followed in the built form
      by the stateless learning-rate multipliers.

    Example:
      >>> import jax.numpy as jnp, tsx
      >>> params = {"embed": {"embedding": jnp.ones((4, 2))},
      ...           "dense": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)}}
      >>> tx = tsx.masks.param_groups(
      ...     tsx.adamw, {r".*/embedding": dict(lr_mult=0.1),
      ...                 r".*/bias": dict(frozen=True)},
      ...     learning_rate=1e-2, weight_decay=1e-4)
      >>> sorted(tx.init(params).inner_states)
      ['default', 'frozen', 'lr_mult=0.1,wd_mult=1']
    """
    items = [(rule, _parse(rule, opts)) for rule, opts in rule_items(groups)]
    built = is_transformation(optimizer)
    if built:
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
    elif learning_rate is None:
        raise ValueError(
            "param_groups: an optimizer factory needs learning_rate=, got "
            "learning_rate=None."
        )
    elif weight_decay is None and any(o.wd_mult != 1.0 for _, o in items):
        raise ValueError(
            "param_groups: wd_mult needs weight_decay=, got weight_decay=None."
        )

    def options_of(params: Any) -> Any:
        """The tree of each parameter's GroupOptions."""
        _, treedef, values = match_rules(
            params,
            items,
            GroupOptions(),
            syntax=syntax,
            allow_unused=allow_unused,
            what="param_groups",
        )
        return unflatten_like(treedef, values)

    def labels(params: Any) -> Any:
        if built:
            return jax.tree.map(
                lambda o: "frozen" if o.frozen else "trainable",
                options_of(params),
                is_leaf=_is_options,
            )
        return jax.tree.map(lambda o: o.name, options_of(params), is_leaf=_is_options)

    everyone = [GroupOptions(), *(opts for _, opts in items)]
    if built:
        transforms = {"trainable": optimizer}
        if any(o.frozen for o in everyone):
            transforms["frozen"] = set_to_zero()
        return chain(
            partition(transforms, labels),
            _scale_by_lr_mult(options_of),
        )

    def group_tx(opts: GroupOptions) -> GradientTransformation:
        if opts.frozen:
            return set_to_zero()
        kwargs = {"learning_rate": _times(learning_rate, opts.lr_mult)}
        if weight_decay is not None:
            kwargs["weight_decay"] = _times(weight_decay, opts.wd_mult)
        return optimizer(**kwargs)

    transforms = {opts.name: group_tx(opts) for opts in dict.fromkeys(everyone)}
    return partition(transforms, labels)


def _is_options(x: Any) -> bool:
    return isinstance(x, GroupOptions)


def _scale_by_lr_mult(options_of: Callable[[Any], Any]) -> GradientTransformation:
    """Multiply each update by its group's ``lr_mult`` (stateless)."""

    def update_fn(updates, state, params=None):
        del params

        def one(options: GroupOptions, u: Any) -> Any:
            if options.lr_mult == 1.0 or options.frozen:
                return u
            return (options.lr_mult * u).astype(u.dtype)

        scaled = jax.tree.map(one, options_of(updates), updates, is_leaf=_is_options)
        return scaled, state

    return GradientTransformation(init_empty_state, update_fn)
