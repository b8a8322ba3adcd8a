"""tsx and Optax transformations nested in each other's chains and wrappers.

Each case builds a mixed pipeline for tsx's side and the all-Optax pipeline
for the oracle's side; the numbers must agree.
"""

import jax
import optax
import pytest

import tsx
from tests.oracle import compare_with_optax

CASES = {
    "optax_chain_tsx_clip": (
        lambda: optax.chain(tsx.clip_by_global_norm(1.0), optax.adam(1e-3)),
        lambda: optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3)),
    ),
    "tsx_chain_optax_clip": (
        lambda: tsx.chain(optax.clip(1.0), tsx.adam(1e-3)),
        lambda: optax.chain(optax.clip(1.0), optax.adam(1e-3)),
    ),
    "tsx_apply_if_finite_optax_inner": (
        lambda: tsx.apply_if_finite(optax.adam(1e-2), 2),
        lambda: optax.apply_if_finite(optax.adam(1e-2), 2),
    ),
    "optax_apply_if_finite_tsx_inner": (
        lambda: optax.apply_if_finite(tsx.adam(1e-2), 2),
        lambda: optax.apply_if_finite(optax.adam(1e-2), 2),
    ),
    "tsx_multisteps_optax_inner": (
        lambda: tsx.MultiSteps(optax.adam(1e-2), 2).gradient_transformation(),
        lambda: optax.MultiSteps(optax.adam(1e-2), 2).gradient_transformation(),
    ),
    "optax_partition_tsx_members": (
        lambda: optax.partition(
            {"a": tsx.adam(1e-2), "b": tsx.chain(tsx.ema(0.9), tsx.scale(-0.1))},
            lambda p: jax.tree.map(lambda x: "a" if x.ndim > 1 else "b", p),
        ),
        lambda: optax.partition(
            {
                "a": optax.adam(1e-2),
                "b": optax.chain(optax.ema(0.9), optax.scale(-0.1)),
            },
            lambda p: jax.tree.map(lambda x: "a" if x.ndim > 1 else "b", p),
        ),
    ),
    "tsx_partition_optax_members": (
        lambda: tsx.partition(
            condition=lambda path, p: p.ndim > 1,
            true_gradient_transform=optax.adam(1e-2),
            false_gradient_transform=optax.chain(optax.ema(0.9), optax.scale(-0.1)),
        ),
        lambda: optax.partition(
            {
                True: optax.adam(1e-2),
                False: optax.chain(optax.ema(0.9), optax.scale(-0.1)),
            },
            lambda p: jax.tree.map(lambda x: x.ndim > 1, p),
        ),
    ),
    "flatten_both_ways": (
        lambda: tsx.chain(tsx.flatten(optax.adam(1e-2)), optax.flatten(tsx.scale(0.5))),
        lambda: optax.chain(
            optax.flatten(optax.adam(1e-2)), optax.flatten(optax.scale(0.5))
        ),
    ),
    "conditional_and_ema": (
        lambda: optax.chain(
            tsx.ema(0.8),
            tsx.conditionally_mask(optax.adam(1e-2), lambda s: s % 2 == 1),
        ),
        lambda: optax.chain(
            optax.ema(0.8),
            optax.conditionally_mask(optax.adam(1e-2), lambda s: s % 2 == 1),
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_mixed_pipeline_matches_all_optax(name):
    mixed, pure = CASES[name]
    compare_with_optax(lambda lib: mixed() if lib is tsx else pure(), jit=True)
