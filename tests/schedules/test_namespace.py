"""tsx.schedules has every public name of optax.schedules, with its signature."""

import inspect

import optax
import pytest

import tsx

OPTAX_NAMES = sorted(n for n in dir(optax.schedules) if not n.startswith("_"))


def test_every_optax_schedules_name_exists():
    missing = [n for n in OPTAX_NAMES if not hasattr(tsx.schedules, n)]
    assert not missing, missing
    assert set(OPTAX_NAMES) <= set(tsx.schedules.__all__)


def test_top_level_has_the_schedules_optax_has_there():
    names = [n for n in OPTAX_NAMES if hasattr(optax, n)]
    assert names
    missing = [n for n in names if not hasattr(tsx, n)]
    assert not missing, missing


@pytest.mark.parametrize(
    "name", [n for n in OPTAX_NAMES if inspect.isfunction(getattr(optax.schedules, n))]
)
def test_signatures_match_optax(name):
    ours = inspect.signature(getattr(tsx.schedules, name)).parameters
    theirs = inspect.signature(getattr(optax.schedules, name)).parameters
    assert list(ours) == list(theirs)
    for key in theirs:
        assert ours[key].default == theirs[key].default, key
        assert ours[key].kind == theirs[key].kind, key
