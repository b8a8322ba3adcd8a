"""partition / multi_transform: Optax's label form, the guide's condition form."""

import flax.linen as nn
import flax.traverse_util
import jax
import jax.numpy as jnp
import optax
import pytest

import tsx
from tests.oracle import (
    assert_trees_close,
    compare_with_optax,
    grads_at,
    nested_params,
    state_layout,
)
from tests.transforms.helpers import checkpoint_round_trip, run_both

LABELS = {
    "scale": "slow",
    "dense": {"bias": "slow", "kernel": "adam"},
    "conv": {"kernel": "adam"},
    "layers": ["slow"],
}


def _transforms(lib):
    return {
        "adam": lib.adam(1e-2),
        "slow": lib.chain(lib.trace(0.9), lib.scale(-0.05)),
    }


def test_label_tree_matches_optax():
    compare_with_optax(
        lambda lib: lib.chain(
            lib.clip(1.0), lib.multi_transform(_transforms(lib), LABELS)
        ),
        jit=True,
    )


def test_label_function_and_prefix_labels_match_optax():
    label_fn = lambda p: jax.tree.map(lambda x: "adam" if x.ndim > 1 else "slow", p)  # noqa: E731
    compare_with_optax(lambda lib: lib.partition(_transforms(lib), label_fn))
    prefix = {"scale": "slow", "dense": "adam", "conv": "adam", "layers": "slow"}
    compare_with_optax(lambda lib: lib.partition(_transforms(lib), prefix))


class _Net(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.Conv(4, (3, 3))(x)
        x = nn.LayerNorm()(x)
        x = x.reshape((x.shape[0], -1))
        return nn.Dense(3)(x)


def _decay_labels(params):
    flat = flax.traverse_util.flatten_dict(params)
    labels = {k: ("no_decay" if k[-1] in ("bias", "scale") else "decay") for k in flat}
    return flax.traverse_util.unflatten_dict(labels)


def test_multi_transform_with_linen_params_matches_optax():
    params = _Net().init(jax.random.PRNGKey(0), jnp.ones((1, 5, 5, 2)))
    assert set(params) == {"params"}

    def make(lib):
        return lib.multi_transform(
            {
                "decay": lib.adamw(1e-3, weight_decay=1e-2),
                "no_decay": lib.adam(1e-3),
            },
            param_labels=_decay_labels,
        )

    compare_with_optax(make, params=params, jit=True)


def _is_matrix(path, param):
    return param.ndim >= 2 and "bias" not in jax.tree_util.keystr(path)


def test_condition_form_matches_optax_multi_transform_with_bool_labels():
    def make(lib):
        true_tx = lib.chain(lib.clip_by_global_norm(1.0), lib.adam(1e-2))
        false_tx = lib.adamw(1e-2, weight_decay=0.1)
        if lib is tsx:
            return tsx.partition(
                condition=_is_matrix,
                true_gradient_transform=true_tx,
                false_gradient_transform=false_tx,
            )
        return optax.multi_transform(
            {True: true_tx, False: false_tx},
            lambda p: jax.tree_util.tree_map_with_path(_is_matrix, p),
        )

    compare_with_optax(make, jit=True)
    state = make(tsx).init(nested_params())
    assert set(state.inner_states) == {True, False}


def test_condition_form_state_holds_only_its_leaves():
    params = nested_params()
    tx = tsx.partition(
        condition=lambda path, p: p.ndim == 4,
        true_gradient_transform=tsx.adam(1e-3),
        false_gradient_transform=tsx.scale(-0.1),
    )
    state = tx.init(params)
    mu = state.inner_states[True].inner_state[0].mu
    assert [x.shape for x in jax.tree.leaves(mu)] == [(2, 3, 3, 4)]


def test_partition_checkpoint_round_trip_mid_run():
    params = nested_params()

    def make(lib):
        return lib.partition(_transforms(lib), LABELS)

    tx = make(tsx)
    state = tx.init(params)
    straight = state
    for step in range(3):
        _, straight = tx.update(grads_at(params, step), straight, params)
    for step in range(2):
        _, state = tx.update(grads_at(params, step), state, params)
    state = checkpoint_round_trip(state, tx.init(params))
    _, state = tx.update(grads_at(params, 2), state, params)
    assert state_layout(state) == state_layout(straight)
    assert_trees_close(state, straight, rtol=0, atol=0)


def test_aliases_match_optax():
    assert tsx.multi_transform is tsx.partition
    assert tsx.MultiTransformState is tsx.PartitionState
    assert tsx.PartitionState._fields == optax.PartitionState._fields


def test_optax_positional_form_still_works_in_mixed_chain():
    run_both(
        lambda lib: lib.partition(
            {
                "adam": optax.adam(1e-2),
                "slow": tsx.chain(optax.trace(0.5), tsx.scale(-0.1)),
            },
            LABELS,
        ),
        nested_params(),
        [grads_at(nested_params(), s) for s in range(3)],
    )


def test_bad_arguments_raise_value_error_naming_them():
    adam = tsx.adam(1e-3)
    with pytest.raises(ValueError, match="param_labels"):
        tsx.partition({"adam": adam}, {"a": "adam", "b": "sgd"})
    with pytest.raises(ValueError, match="transforms"):
        tsx.partition()
    with pytest.raises(ValueError, match="transforms"):
        tsx.partition([adam], {"a": 0})
    with pytest.raises(TypeError, match="false_gradient_transform=None"):
        tsx.partition(condition=_is_matrix, true_gradient_transform=adam)
    with pytest.raises(ValueError, match="condition"):
        tsx.partition(true_gradient_transform=adam, false_gradient_transform=adam)
    with pytest.raises(ValueError, match="condition"):
        tsx.partition(
            {"a": adam},
            {"x": "a"},
            condition=_is_matrix,
            true_gradient_transform=adam,
            false_gradient_transform=adam,
        )
    tx = tsx.partition({"adam": adam}, lambda p: jax.tree.map(lambda _: "sgd", p))
    with pytest.raises(ValueError, match="sgd"):
        tx.init(nested_params())
