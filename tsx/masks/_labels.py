"""Label trees from ordered path rules, for ``multi_transform`` and ``partition``.

``labels_by_path(params, rules, default)`` gives every parameter the label of
the first rule whose pattern matches its "/"-joined path::

    labels = labels_by_path(
        params,
        {r".*/embedding": "embed", r".*/(bias|scale)": "no_decay"},
        default="decay",
    )
    tx = tsx.multi_transform(
        {"embed": ..., "no_decay": ..., "decay": ...}, param_labels=labels
    )

A rule that labels nothing is almost always a typo (or a rule shadowed by an
earlier, broader one), so it is an error that names the rule.
"""


from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tsx.masks._paths import flatten_with_paths, unflatten_like
from tsx.masks._predicates import Predicate, compile_pattern

__all__ = ["Rule", "labels_by_path", "match_rules", "rule_items"]

# A rule's pattern: a path pattern string, or a Predicate / fn(path, param).
Rule = str | Predicate | Callable[[str, Any], bool]

_NO_DEFAULT = object()
_SHOWN_PATHS = 12


def rule_items(rules: Any) -> list[tuple[Rule, Any]]:
    if isinstance(rules, Mapping):
        return list(rules.items())
    if isinstance(rules, Sequence) and not isinstance(rules, str):
        items = []
        for item in rules:
            if not (isinstance(item, Sequence) and len(item) == 2):
                raise ValueError(
                    "rules must be a mapping {pattern: value} or a sequence of "
                    f"(pattern, value) pairs, got the item {item!r}."
                )
            items.append((item[0], item[1]))
        return items
    raise ValueError(
        "rules must be a mapping {pattern: value} or a sequence of "
        f"(pattern, value) pairs, got rules={rules!r}."
    )


def _compile(rule: Rule, syntax: str) -> Callable[[str, Any], bool]:
    if isinstance(rule, str):
        match = compile_pattern(rule, syntax)
        return lambda path, _: match(path)
    if isinstance(rule, Predicate):
        return rule
    if callable(rule):
        return lambda path, param: bool(rule(path, param))
    raise ValueError(
        f"a rule must be a path pattern or a predicate(path, param), got {rule!r}."
    )


def _listing(paths: Sequence[str]) -> str:
    shown = ", ".join(repr(p) for p in paths[:_SHOWN_PATHS])
    more = len(paths) - _SHOWN_PATHS
    return shown + (f", ... ({more} more)" if more > 0 else "")


def match_rules(
    params: Any,
    rules: Any,
    default: Any = _NO_DEFAULT,
    *,
    syntax: str = "regex",
    allow_unused: bool = False,
    what: str = "labels_by_path",
) -> tuple[list[tuple[str, Any]], Any, list[Any]]:
    """Resolve ``rules`` against ``params``: ``(path_leaf_pairs, treedef, values)``.

    ``values[i]`` is the value of the first rule matching leaf ``i`` (or
    ``default``). Raises ``ValueError`` naming unused rules (unless
    ``allow_unused``) and, without a default, the unmatched paths.

    Args:
      params: the parameter tree.
      rules: ``(pattern, value)`` pairs, or a dict from pattern to value, tried
        in order.
      default: the value of a leaf no rule matches (without it, such a leaf
        is an error).
      syntax: the patterns' syntax, ``"regex"`` or ``"glob"``.
      allow_unused: do not raise for rules that match nothing.
      what: the caller's name, for error messages.
    """
    items = rule_items(rules)
    compiled = [(rule, _compile(rule, syntax), value) for rule, value in items]
    pairs, treedef = flatten_with_paths(params)
    matched = [False] * len(compiled)
    used = [False] * len(compiled)
    values: list[Any] = []
    unmatched: list[str] = []
    for path, leaf in pairs:
        chosen = _NO_DEFAULT
        for i, (_, fn, value) in enumerate(compiled):
            if fn(path, leaf):
                matched[i] = True
                if chosen is _NO_DEFAULT:
                    chosen = value
                    used[i] = True
        if chosen is _NO_DEFAULT:
            chosen = default
            if default is _NO_DEFAULT:
                unmatched.append(path)
        values.append(chosen)

    if not allow_unused:
        all_paths = [p for p, _ in pairs]
        for (rule, _, _), hit, took in zip(compiled, matched, used, strict=True):
            if not hit:
                raise ValueError(
                    f"{what}: rule {rule!r} matched no parameter path "
                    f"(syntax={syntax!r}; paths: {_listing(all_paths)})."
                )
            if not took:
                raise ValueError(
                    f"{what}: rule {rule!r} only matched paths already taken by "
                    "earlier rules, so it labels nothing; put it before the "
                    "broader rule or remove it."
                )
    if unmatched:
        raise ValueError(
            f"{what}: no rule matched {_listing(unmatched)} and no default was "
            "given; add a rule or pass default=."
        )
    return pairs, treedef, values


def labels_by_path(
    params: Any,
    rules: Mapping[Rule, Any] | Sequence[tuple[Rule, Any]],
    default: Any = _NO_DEFAULT,
    *,
    syntax: str = "regex",
    allow_unused: bool = False,
) -> Any:
    """A label tree for ``multi_transform``/``partition`` from ordered path rules.

    For each parameter with "/"-joined path ``p`` (``"Dense_0/kernel"``) the
    label is that of the first rule ``(pattern, label)`` in ``rules`` with
    ``match(pattern, p)``, else ``default``:

        label(p) = label_i,  i = min{ j : match(pattern_j, p) }

    Args:
      params: any parameter pytree (``dict``, ``FrozenDict``, ...); the label
        tree has the same structure and container types.
      rules: ``{pattern: label}`` (ordered) or ``[(pattern, label), ...]``.
        A pattern is a regex matched against the whole path (or a glob with
        ``syntax="glob"``), or a predicate ``fn(path, param) -> bool`` such as
        ``by_ndim(2) & ~by_path(".*embedding")``.
      default: label of parameters no rule matches; without it, an unmatched
        parameter is an error naming its path.
      syntax: ``"regex"`` (``re.fullmatch``) or ``"glob"`` (``fnmatchcase``).
      allow_unused: accept rules that label nothing (by default a rule that
        matches no path, or only paths an earlier rule took, is a
        ``ValueError`` naming the rule).

    Returns:
      A tree of labels shaped like ``params``.

    Example:
      >>> import jax.numpy as jnp, tsx
      >>> params = {"Dense_0": {"kernel": jnp.ones((3, 4)), "bias": jnp.zeros(4)},
      ...           "LayerNorm_0": {"scale": jnp.ones(4)}}
      >>> tsx.masks.labels_by_path(params, {".*kernel": "muon"}, default="adam")
      {'Dense_0': {'bias': 'adam', 'kernel': 'muon'}, 'LayerNorm_0': {'scale': 'adam'}}
    """
    if default is None:
        raise ValueError(
            "default=None cannot be a label (None is an empty pytree); "
            "use a string such as default='other'."
        )
    _, treedef, values = match_rules(
        params, rules, default, syntax=syntax, allow_unused=allow_unused
    )
    for value in values:
        if value is None:
            raise ValueError(
                "labels_by_path: a rule maps to None, which cannot be a label."
            )
    return unflatten_like(treedef, values)
