"""tsx.experimental(.aggregating) exposes Optax's names with Optax's API.

Optax's names are listed at run time. ``optax.experimental.aggregating`` is
Optax's private module ``_aggregating``, so its ``dir`` also lists what that
module imports: modules (``jax``, ``jnp``, ``math``, optax's ``base``,
``tree``, ``utils``) and ``typing`` helpers (``Any``, ``NamedTuple``,
``Protocol``, ``Sequence``). Those are not API and are left out.
"""

import inspect
import subprocess
import sys
import types
import typing

import optax
import optax.experimental
import pytest

import tsx
import tsx.experimental

THEIRS = optax.experimental.aggregating
OURS = tsx.experimental.aggregating


def _is_reexported_import(name: str, obj) -> bool:
    return isinstance(obj, types.ModuleType) or getattr(typing, name, None) is obj


OPTAX_NAMES = sorted(
    n
    for n in dir(THEIRS)
    if not n.startswith("_") and not _is_reexported_import(n, getattr(THEIRS, n))
)


def test_the_list_of_optax_names_is_not_empty():
    # Guards the filter above: it must keep the API.
    assert {"process", "Aggregator", "add_mean_variance_to_opt"} <= set(OPTAX_NAMES)


def test_experimental_exposes_aggregating_like_optax():
    public = {n for n in dir(optax.experimental) if not n.startswith("_")}
    assert public == {"aggregating"}
    assert tsx.experimental.__all__ == optax.experimental.__all__
    assert isinstance(tsx.experimental.aggregating, types.ModuleType)
    from tsx.experimental import aggregating

    assert aggregating is OURS


def test_every_public_name_of_optax_aggregating_is_in_tsx():
    missing = [n for n in OPTAX_NAMES if not hasattr(OURS, n)]
    assert not missing, f"tsx.experimental.aggregating lacks {missing}"


def test_all_lists_exactly_optax_public_names():
    assert sorted(OURS.__all__) == OPTAX_NAMES


@pytest.mark.parametrize(
    "name", [n for n in OPTAX_NAMES if inspect.isfunction(getattr(THEIRS, n))]
)
def test_function_signatures_match_optax(name):
    theirs = inspect.signature(getattr(THEIRS, name)).parameters
    ours = inspect.signature(getattr(OURS, name)).parameters
    assert list(ours) == list(theirs), name
    for arg, p in theirs.items():
        assert ours[arg].kind == p.kind, (name, arg)
        assert ours[arg].default == p.default, (name, arg)


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in OPTAX_NAMES
        if inspect.isclass(getattr(THEIRS, n))
        and hasattr(getattr(THEIRS, n), "_fields")
    ],
)
def test_named_tuple_fields_match_optax(name):
    assert getattr(OURS, name)._fields == getattr(THEIRS, name)._fields
    assert getattr(OURS, name)._field_defaults == getattr(THEIRS, name)._field_defaults


def test_aggregator_is_an_extra_args_transformation():
    assert issubclass(THEIRS.Aggregator, optax.GradientTransformationExtraArgs)
    assert issubclass(OURS.Aggregator, tsx.GradientTransformationExtraArgs)
    agg = OURS.Aggregator(tsx.init_empty_state, lambda u, s, p=None: (u, s))
    assert tsx.is_extra_args_transformation(agg)


def test_aggregator_update_fn_is_a_protocol_with_optax_parameters():
    theirs = inspect.signature(THEIRS.AggregatorUpdateFn.__call__).parameters
    ours = inspect.signature(OURS.AggregatorUpdateFn.__call__).parameters
    assert list(ours) == list(theirs)
    assert typing.Protocol in OURS.AggregatorUpdateFn.__mro__


def test_import_tsx_reaches_experimental():
    # A fresh interpreter: ``import tsx`` alone must expose the namespace.
    code = "import tsx; print(sorted(tsx.experimental.aggregating.__all__)[0])"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == OPTAX_NAMES[0]
