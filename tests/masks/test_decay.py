"""decay_mask on real Linen models: every bias, norm parameter and embedding is out."""

import flax
import flax.traverse_util as tu
import jax
import jax.numpy as jnp
import optax
import pytest

import tsx
from tests.masks.models import muonish_params, zoo_variables
from tests.oracle import compare_with_optax

NO_DECAY_NAMES = {"bias", "scale", "embedding"}


def _flat(tree):
    return tu.flatten_dict(flax.core.unfreeze(tree))


def test_default_mask_excludes_bias_norm_and_embedding_and_keeps_every_kernel():
    params = zoo_variables()["params"]
    flat_params = _flat(params)
    # The model really has every kind of parameter the default must know.
    modules = {path[0].split("_")[0] for path in flat_params}
    assert {"Embed", "Conv", "BatchNorm", "GroupNorm", "Dense", "LayerNorm"} <= modules
    assert ("final_norm", "scale") in flat_params  # RMSNorm, renamed
    assert {path[-1] for path in flat_params} == {"kernel", *NO_DECAY_NAMES}

    mask = _flat(tsx.masks.decay_mask(params))
    assert mask.keys() == flat_params.keys()
    for path, flag in mask.items():
        assert flag is (path[-1] == "kernel"), path


def test_frozen_dict_params_give_a_frozen_dict_mask():
    params = flax.core.freeze(zoo_variables()["params"])
    mask = tsx.masks.decay_mask(params)
    assert isinstance(mask, flax.core.FrozenDict)
    assert jax.tree.structure(mask) == jax.tree.structure(params)
    assert mask["Conv_0"]["kernel"] is True
    assert mask["BatchNorm_0"]["scale"] is False
    assert mask["Embed_0"]["embedding"] is False


def test_as_adamw_mask_matches_optax_with_a_hand_written_mask():
    params = muonish_params()

    def hand_mask(p):
        flat = tu.flatten_dict(p)
        return tu.unflatten_dict({k: k[-1] == "kernel" for k in flat})

    compare_with_optax(
        lambda lib: lib.adamw(
            1e-2,
            weight_decay=0.5,
            mask=tsx.masks.decay_mask if lib is tsx else hand_mask,
        ),
        params=params,
        steps=3,
        jit=True,
    )


def test_extra_exclude_patterns_and_glob_syntax():
    params = muonish_params()
    mask = tsx.masks.decay_mask(
        params, exclude=(*tsx.masks.DEFAULT_NO_DECAY, r"unembed/.*")
    )
    assert mask["unembed"]["kernel"] is False
    assert mask["mlp_in"]["kernel"] is True
    glob = tsx.masks.decay_mask(
        params, exclude=("*/bias", "*embedding*"), syntax="glob"
    )
    assert glob["mlp_in"]["bias"] is False
    assert glob["token_embedding"]["embedding"] is False
    # Not excluded by these globs: the LayerNorm scale and the kernels.
    assert glob["ln"]["scale"] is True
    assert glob["unembed"]["kernel"] is True


def test_predicate_exclude_and_empty_exclude():
    params = muonish_params()
    mask = tsx.masks.decay_mask(params, exclude=tsx.masks.by_ndim(at_most=1))
    flat_mask, flat_params = _flat(mask), _flat(params)
    for path, flag in flat_mask.items():
        assert flag is (flat_params[path].ndim >= 2), path
    assert all(jax.tree.leaves(tsx.masks.decay_mask(params, exclude=())))


def test_weight_decay_really_skips_excluded_leaves():
    # One adamw step with zero gradients moves only the decayed leaves.
    params = muonish_params()
    tx = tsx.adamw(0.1, weight_decay=0.5, mask=tsx.masks.decay_mask)
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates, _ = tx.update(zeros, tx.init(params), params)
    flat_u, flat_p = _flat(updates), _flat(params)
    for path, u in flat_u.items():
        if path[-1] == "kernel":
            assert jnp.allclose(u, -0.1 * 0.5 * flat_p[path], rtol=1e-6), path
        else:
            assert not jnp.any(u), path


def test_bad_syntax_and_bad_regex_fail_clearly():
    params = muonish_params()
    with pytest.raises(ValueError, match="syntax='sql'"):
        tsx.masks.decay_mask(params, exclude=("bias",), syntax="sql")
    with pytest.raises(ValueError, match=r"pattern='\(bias'"):
        tsx.masks.decay_mask(params, exclude=("(bias",))


def test_mask_works_for_optax_mask_argument_on_grads():
    params = zoo_variables()["params"]
    tx = optax.add_decayed_weights(0.1, mask=tsx.masks.decay_mask)
    g = jax.tree.map(lambda p: jnp.full_like(p, 0.5), params)
    u, _ = jax.jit(tx.update)(g, tx.init(params), params)
    assert jnp.allclose(
        u["Dense_0"]["kernel"],
        g["Dense_0"]["kernel"] + 0.1 * params["Dense_0"]["kernel"],
    )
    assert jnp.array_equal(u["LayerNorm_0"]["scale"], g["LayerNorm_0"]["scale"])
