"""tsx.losses has every public name of optax.losses (listed at run time)."""

import inspect

import optax

import tsx


def _public(module) -> set[str]:
    return {
        n
        for n in dir(module)
        if not n.startswith("_") and not inspect.ismodule(getattr(module, n))
    }


def test_losses_namespace_has_every_optax_name():
    missing = _public(optax.losses) - set(tsx.losses.__all__)
    assert not missing, f"tsx.losses lacks {sorted(missing)}"
    for name in tsx.losses.__all__:
        assert callable(getattr(tsx.losses, name)), name


def test_top_level_has_optax_top_level_losses():
    names = _public(optax.losses) & _public(optax)
    assert names  # Optax re-exports most losses at top level.
    for name in names:
        assert getattr(tsx, name) is getattr(tsx.losses, name), name
