"""tsx.losses has every public name of optax.losses, with the same signatures."""

import optax

import tsx
from tests.losses.helpers import assert_signatures_match, public_names


def test_losses_namespace_has_every_optax_name():
    missing = public_names(optax.losses) - set(tsx.losses.__all__)
    assert not missing, f"tsx.losses lacks {sorted(missing)}"
    for name in tsx.losses.__all__:
        assert callable(getattr(tsx.losses, name)), name


def test_losses_signatures_match_optax():
    assert_signatures_match(tsx.losses, optax.losses, public_names(optax.losses))


def test_top_level_has_optax_top_level_losses():
    names = public_names(optax.losses) & public_names(optax)
    assert names  # Optax re-exports most losses at top level.
    for name in names:
        assert getattr(tsx, name) is getattr(tsx.losses, name), name
