"""tsx.contrib exposes every public name of optax.contrib, with Optax's API.

The names are listed from the installed Optax at run time, so a name Optax
adds or that tsx loses makes this fail.
"""

import inspect

import optax.contrib
import pytest

import tsx.contrib

OPTAX_NAMES = sorted(n for n in dir(optax.contrib) if not n.startswith("_"))
# Defaults that are objects built per call (a default Hutchinson estimator, a
# clip function): both sides have one, but they cannot compare equal.
_OPAQUE_DEFAULTS = {"hessian_diagonal_fn", "clip_value_fn"}


def test_every_public_name_of_optax_contrib_is_in_tsx_contrib():
    missing = [n for n in OPTAX_NAMES if not hasattr(tsx.contrib, n)]
    assert not missing, f"tsx.contrib lacks {missing}"
    assert set(OPTAX_NAMES) <= set(tsx.contrib.__all__)


# tsx's own matrix preconditioners, which Optax does not have.
TSX_ONLY = {
    "KronState",
    "ShampooState",
    "SoapState",
    "kron",
    "scale_by_kron",
    "scale_by_shampoo",
    "scale_by_soap",
    "shampoo",
    "soap",
    "update_probability",
}


def test_all_lists_the_public_names_of_optax_contrib_and_tsx_additions():
    assert sorted(set(tsx.contrib.__all__) - TSX_ONLY) == OPTAX_NAMES
    assert TSX_ONLY <= set(tsx.contrib.__all__)


@pytest.mark.parametrize(
    "name", [n for n in OPTAX_NAMES if inspect.isfunction(getattr(optax.contrib, n))]
)
def test_function_signatures_match_optax(name):
    theirs = inspect.signature(getattr(optax.contrib, name)).parameters
    ours = inspect.signature(getattr(tsx.contrib, name)).parameters
    # Optax's parameters first, in order, with the same kinds and defaults...
    assert list(ours)[: len(theirs)] == list(theirs), name
    for arg, p in theirs.items():
        assert ours[arg].kind == p.kind, (name, arg)
        if arg not in _OPAQUE_DEFAULTS:
            assert ours[arg].default == p.default, (name, arg)
    # ...then only tsx's optional keyword-only additions.
    for arg in list(ours)[len(theirs) :]:
        assert ours[arg].kind == inspect.Parameter.KEYWORD_ONLY, (name, arg)
        assert ours[arg].default is None, (name, arg)


@pytest.mark.parametrize(
    "name", [n for n in OPTAX_NAMES if inspect.isclass(getattr(optax.contrib, n))]
)
def test_state_and_dimension_number_classes_match_optax(name):
    theirs, ours = getattr(optax.contrib, name), getattr(tsx.contrib, name)
    assert ours._fields == theirs._fields, name
    assert ours._field_defaults == theirs._field_defaults, name
