"""Parameter groups: lr/wd multipliers per group and frozen groups without state."""

import flax.traverse_util as tu
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import tsx
from tests.masks.models import muonish_params
from tests.oracle import assert_trees_close, compare_with_optax, grads_at

GROUPS = {
    r".*/embedding": dict(lr_mult=0.1),
    r".*/bias": dict(wd_mult=0.0),
    r"ln/.*": dict(frozen=True),
}


# The group names param_groups gives: a hand-written partition with the same
# labels has the same state layout.
EMB, BIAS = "lr_mult=0.1,wd_mult=1", "lr_mult=1,wd_mult=0"


def _hand_labels(params):
    def label(path):
        if path[-1] == "embedding":
            return EMB
        if path[-1] == "bias":
            return BIAS  # ln/bias too: the earlier rule wins
        if path[0] == "ln":
            return "frozen"
        return "default"

    flat = tu.flatten_dict(params)
    return tu.unflatten_dict({k: label(k) for k in flat})


def _nbytes(tree):
    return sum(np.asarray(x).nbytes for x in jax.tree.leaves(tree))


@pytest.mark.parametrize(
    "lr",
    [3e-2, lambda count: 3e-2 * 0.8**count],
    ids=["constant", "schedule"],
)
def test_factory_form_matches_optax_multi_transform(lr):
    params = muonish_params()

    def times(m):
        return (lambda c: m * lr(c)) if callable(lr) else m * lr

    def make(lib):
        if lib is tsx:
            return tsx.masks.param_groups(
                tsx.adamw, GROUPS, learning_rate=lr, weight_decay=0.1
            )
        return optax.multi_transform(
            {
                "default": optax.adamw(lr, weight_decay=0.1),
                EMB: optax.adamw(times(0.1), weight_decay=0.1),
                BIAS: optax.adamw(lr, weight_decay=0.0),
                "frozen": optax.set_to_zero(),
            },
            _hand_labels(params),
        )

    compare_with_optax(make, params=params, steps=3, jit=True)


def test_transform_form_shares_one_state_and_scales_updates():
    params = muonish_params()
    tx = tsx.masks.param_groups(
        tsx.adam(1e-2),
        {r".*/embedding": dict(lr_mult=0.25), r"ln/.*": dict(frozen=True)},
    )
    ref = optax.adam(1e-2)  # elementwise, so one state over all params is the oracle
    mult = {k: 1.0 for k in tu.flatten_dict(params)}
    mult[("token_embedding", "embedding")] = 0.25
    mult[("ln", "scale")] = mult[("ln", "bias")] = 0.0
    mult = tu.unflatten_dict(mult)
    state, ref_state = tx.init(params), ref.init(params)
    update, ref_update = jax.jit(tx.update), jax.jit(ref.update)
    for step in range(3):
        g = grads_at(params, step)
        u, state = update(g, state, params)
        ru, ref_state = ref_update(g, ref_state, params)
        assert_trees_close(u, jax.tree.map(lambda m, x: m * x, mult, ru))
    assert not np.any(np.asarray(u["ln"]["scale"]))


def test_frozen_groups_allocate_no_optimizer_state():
    params = muonish_params()
    trainable = {k: v for k, v in params.items() if k != "ln"}
    frozen_bytes = _nbytes(params["ln"])
    assert frozen_bytes > 0

    # Built transformation: exactly Adam's state for the trainable subset.
    tx = tsx.masks.param_groups(tsx.adam(1e-3), {r"ln/.*": dict(frozen=True)})
    state = tx.init(params)
    assert _nbytes(state) == _nbytes(optax.adam(1e-3).init(trainable))
    assert _nbytes(state) == 4 + 2 * _nbytes(trainable)

    # Factory: one Adam (count, mu, nu) per trainable group, none for ln.
    tx = tsx.masks.param_groups(
        tsx.adamw,
        {r".*/embedding": dict(lr_mult=0.1), r"ln/.*": dict(frozen=True)},
        learning_rate=1e-3,
        weight_decay=1e-2,
    )
    state = tx.init(params)
    assert set(state.inner_states) == {"default", "lr_mult=0.1,wd_mult=1", "frozen"}
    assert _nbytes(state) == 2 * 4 + 2 * _nbytes(trainable)
    table = tsx.masks.describe(params, None, tx)
    assert table.row("ln/scale").opt_state_bytes == 0
    assert table.row("ln/bias").opt_state_bytes == 0
    assert (
        table.row("mlp_in/kernel").opt_state_bytes
        == 2 * params["mlp_in"]["kernel"].nbytes
    )

    updates, _ = tx.update(jax.tree.map(jnp.ones_like, params), state, params)
    assert all(not np.any(np.asarray(u)) for u in jax.tree.leaves(updates["ln"]))
    assert all(np.all(np.asarray(u) != 0) for u in jax.tree.leaves(updates["mlp_in"]))


def test_frozen_params_stay_put_in_a_train_state():
    params = muonish_params()
    state = tsx.training.TrainState.create(
        apply_fn=None,
        params=params,
        tx=tsx.masks.param_groups(
            tsx.sgd(0.5), {r"token_embedding/.*": dict(frozen=True)}
        ),
    )
    state = state.apply_gradients(grads=grads_at(params, 0))
    np.testing.assert_array_equal(
        state.params["token_embedding"]["embedding"],
        params["token_embedding"]["embedding"],
    )
    assert not np.array_equal(
        state.params["mlp_in"]["kernel"], params["mlp_in"]["kernel"]
    )


_TYPE_ERRORS = {"frozen='yes'", "optimizer=3", "must be a mapping"}


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: tsx.masks.param_groups(
                tsx.adamw, {".*": dict(lr_rate=1)}, learning_rate=1.0
            ),
            "unknown option 'lr_rate'",
        ),
        (
            lambda: tsx.masks.param_groups(
                tsx.adamw, {".*": dict(lr_mult=-1.0)}, learning_rate=1.0
            ),
            "lr_mult.*-1.0",
        ),
        (
            lambda: tsx.masks.param_groups(
                tsx.adamw,
                {".*": dict(wd_mult=-2.0)},
                learning_rate=1.0,
                weight_decay=0.1,
            ),
            "wd_mult.*-2.0",
        ),
        (
            lambda: tsx.masks.param_groups(
                tsx.adamw, {".*": dict(frozen="yes")}, learning_rate=1.0
            ),
            "frozen='yes'",
        ),
        (
            lambda: tsx.masks.param_groups(tsx.adamw, {".*": dict(lr_mult=0.5)}),
            "learning_rate=None",
        ),
        (
            lambda: tsx.masks.param_groups(
                tsx.adamw, {".*": dict(wd_mult=0.5)}, learning_rate=1.0
            ),
            "weight_decay=None",
        ),
        (
            lambda: tsx.masks.param_groups(tsx.adam(1.0), {".*": dict(wd_mult=0.5)}),
            "wd_mult=0.5",
        ),
        (
            lambda: tsx.masks.param_groups(
                tsx.adam(1.0), {".*": {}}, learning_rate=1.0
            ),
            "learning_rate=",
        ),
        (lambda: tsx.masks.param_groups(3, {".*": {}}), "optimizer=3"),
        (
            lambda: tsx.masks.param_groups(tsx.adam(1.0), {".*": 0.1}),
            "must be a mapping",
        ),
    ],
)
def test_bad_groups_fail_when_built(call, match):
    # A wrong type is a TypeError, a wrong value a ValueError; both name it.
    error = TypeError if match in _TYPE_ERRORS else ValueError
    with pytest.raises(error, match=match):
        call()


def test_a_group_rule_that_matches_nothing_fails_at_init():
    tx = tsx.masks.param_groups(tsx.adam(1e-3), {r"encoder/.*": dict(frozen=True)})
    with pytest.raises(ValueError, match=r"param_groups: rule 'encoder/\.\*'"):
        tx.init(muonish_params())
