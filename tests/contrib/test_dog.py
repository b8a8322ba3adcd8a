"""DoG and DoWG against Optax."""

import pytest

import tsx
from tests.oracle import compare_with_optax


def test_dog_defaults_match_optax():
    compare_with_optax(lambda lib: lib.contrib.dog())


@pytest.mark.parametrize(
    "init_step", [("distance", 0.1), ("learning_rate", 0.05), ("heuristic", 1e-3)]
)
def test_dog_init_steps_match_optax(init_step):
    compare_with_optax(
        lambda lib: lib.contrib.dog(
            learning_rate=lambda c: 1.0 / (1.0 + c),
            init_step=init_step,
            eps=1e-4,
            weight_decay=0.1,
        ),
        jit=True,
    )


def test_dowg_defaults_match_optax():
    compare_with_optax(lambda lib: lib.contrib.dowg())


def test_dowg_non_defaults_match_optax():
    mask = lambda p: {k: k != "scale" for k in p}  # noqa: E731
    compare_with_optax(
        lambda lib: lib.contrib.dowg(
            learning_rate=lambda c: 0.5 + 0.1 * c,
            init_estim_sq_dist=0.01,
            eps=1e-3,
            weight_decay=0.05,
            mask=mask,
        ),
        jit=True,
    )


@pytest.mark.parametrize(
    "fn,kwargs,arg",
    [
        ("dog", dict(learning_rate=-1.0), "learning_rate"),
        ("dog", dict(init_step=("bogus", 1.0)), "init_step"),
        ("dog", dict(init_step=("distance", 0.0)), "init_step"),
        ("dog", dict(eps=-1.0), "eps"),
        ("dog", dict(weight_decay=-1.0), "weight_decay"),
        ("dowg", dict(learning_rate=-1.0), "learning_rate"),
        ("dowg", dict(init_estim_sq_dist=-1.0), "init_estim_sq_dist"),
        ("dowg", dict(eps=-1.0), "eps"),
    ],
)
def test_bad_hyperparameters_fail_at_construction(fn, kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        getattr(tsx.contrib, fn)(**kwargs)
