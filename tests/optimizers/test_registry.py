"""tsx.optimizers.get / available: names, errors, configs."""

import inspect

import jax.numpy as jnp
import ml_collections
import optax
import pytest

import tsx
from tests.oracle import compare_with_optax, nested_params
from tsx.optimizers import registry


def test_available_is_sorted_and_has_top_level_and_contrib_names():
    names = tsx.optimizers.available()
    assert names == sorted(names)
    for name in ["adam", "adamw", "sgd", "lbfgs", "polyak_sgd", "yogi", "sm3"]:
        assert name in names
    assert "contrib.muon" in names
    # Building blocks, wrappers and non-optimizers are not listed.
    for name in [
        "scale_by_adam",
        "chain",
        "contrib.schedule_free",
        "inject_hyperparams",
    ]:
        assert name not in names


def test_every_optax_alias_tsx_has_is_available():
    # Optax's optimizer aliases (alias.py) that tsx implements are all found.
    from optax._src import alias

    aliases = {
        n
        for n, f in vars(alias).items()
        if inspect.isfunction(f) and f.__module__ == alias.__name__ and n[0] != "_"
    }
    aliases |= {"nadam", "nadamw"}
    present = {n for n in aliases if hasattr(tsx, n)}
    assert present
    assert present <= set(tsx.optimizers.available())


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_every_available_name_builds_a_transformation():
    for name in tsx.optimizers.available():
        factory = registry._resolve(name)[1]
        required = [
            p.name
            for p in inspect.signature(factory).parameters.values()
            if p.default is p.empty and p.kind is not p.VAR_KEYWORD
        ]
        if set(required) - {"learning_rate"}:
            continue  # e.g. dpsgd needs clipping and noise settings
        kwargs = {"learning_rate": 0.1} if required else {}
        tx = tsx.optimizers.get(name, **kwargs)
        assert callable(tx.init) and callable(tx.update), name


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("adamw", dict(learning_rate=1e-2, weight_decay=0.1, b1=0.8)),
        ("sgd", dict(learning_rate=0.1, momentum=0.9, nesterov=True)),
        ("yogi", dict(learning_rate=1e-2)),
    ],
)
def test_get_builds_the_same_optimizer_as_optax(name, kwargs):
    compare_with_optax(
        lambda lib: (
            tsx.optimizers.get(name, **kwargs)
            if lib is tsx
            else getattr(optax, name)(**kwargs)
        )
    )


def test_contrib_names_with_and_without_prefix():
    a = tsx.optimizers.get("contrib.muon", learning_rate=0.02)
    b = tsx.optimizers.get("muon", learning_rate=0.02)
    params = {"w": jnp.ones((3, 4))}
    assert type(a.init(params)) is type(b.init(params))


def test_names_are_case_and_dash_insensitive():
    tx = tsx.optimizers.get(" AdamW ", learning_rate=1e-3)
    state = tx.init(nested_params())
    assert isinstance(state[0], tsx.ScaleByAdamState)
    tsx.optimizers.get("optimistic-gradient-descent", learning_rate=0.1)


def test_ml_collections_config():
    config = ml_collections.ConfigDict()
    config.optimizer = "adamw"
    config.optimizer_kwargs = {"learning_rate": 1e-3, "weight_decay": 1e-2}
    compare_with_optax(
        lambda lib: (
            tsx.optimizers.get(config.optimizer, **config.optimizer_kwargs)
            if lib is tsx
            else optax.adamw(1e-3, weight_decay=1e-2)
        )
    )


def test_typo_lists_close_names():
    with pytest.raises(ValueError, match="'adamw'") as err:
        tsx.optimizers.get("adamww", learning_rate=1e-3)
    assert "available()" in str(err.value)
    with pytest.raises(ValueError, match="muon"):
        tsx.optimizers.get("muonn", learning_rate=1e-3)


def test_wrong_keyword_lists_accepted_arguments():
    with pytest.raises(TypeError, match="weight_decay") as err:
        tsx.optimizers.get("adamw", learning_rate=1e-3, weight_decy=0.1)
    message = str(err.value)
    assert "weight_decy" in message and "b1=0.9" in message
    # Also a ValueError, so config loaders can catch either.
    with pytest.raises(ValueError, match="lr"):
        tsx.optimizers.get("sgd", lr=0.1)


def test_missing_learning_rate_is_reported():
    with pytest.raises(TypeError, match="learning_rate"):
        tsx.optimizers.get("adam")


def test_bad_value_raises_the_optimizers_error():
    with pytest.raises(ValueError, match="b1"):
        tsx.optimizers.get("adam", learning_rate=1e-3, b1=2.0)


def test_not_exported_at_top_level():
    assert not hasattr(tsx, "get")
    assert not hasattr(tsx, "available")
