"""Check that a tsx function has Optax's signature (test helper)."""

from __future__ import annotations

import inspect

import optax

import tsx


def assert_signature_matches_optax(name: str, extra: tuple[str, ...] = ()) -> None:
    """Same parameter names, kinds and defaults as ``optax.<name>``, in order.

    ``extra`` names tsx's additional keyword-only parameters (after Optax's).
    Defaults that are transformations (lbfgs's line search) are compared by
    type only.
    """
    ours = list(inspect.signature(getattr(tsx, name)).parameters.values())
    ref = list(inspect.signature(getattr(optax, name)).parameters.values())
    assert [p.name for p in ours] == [p.name for p in ref] + list(extra), name
    for a, b in zip(ours, ref, strict=False):
        assert a.kind == b.kind, (name, a.name)
        if hasattr(b.default, "init") and hasattr(b.default, "update"):
            assert type(a.default).__name__ == type(b.default).__name__
        else:
            assert a.default == b.default or (a.default is b.default), (name, a.name)
    for p in ours[len(ref) :]:
        assert p.kind is p.KEYWORD_ONLY and p.default is None, (name, p.name)
