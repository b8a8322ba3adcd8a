"""Every registered optimizer and the wrappers under Flax's ``nnx.Optimizer``.

Each optimizer is created by ``nnx.Optimizer(model, tx, wrt=nnx.Param)`` on
an NNX model (its ``init`` sees ``nnx.Param`` variables) and takes two
steps; the same transformation takes two steps on the equivalent plain dict
of params, as a Linen user would run it. The params must agree to float32
rounding, with the state stored at 32 bits and compressed to 16, 8 and 4
bits (``quantized_state``: every state leaf of 8 or more elements, the
params' moments; not Muon's three Newton-Schulz coefficients).
Both runs are traced into one jitted program per optimizer, to compile once.
"""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import tsx

REQUIRED = {
    "learning_rate": 1e-2,
    "l2_norm_clip": 1.0,
    "noise_multiplier": 0.5,
    "seed": 0,
}
X = jax.random.normal(jax.random.key(1), (8, 16))
Y = jax.random.normal(jax.random.key(2), (8, 8))


def _loss(p):
    return jnp.mean((X @ p["kernel"] + p["bias"] - Y) ** 2)


def _extra_args(name, value, grad):
    # What the optimizers that need the objective take in their update.
    extra = dict(value=value, grad=grad, value_fn=_loss)
    if name == "contrib.sophia":
        extra["obj_fn"] = _loss
    return extra


def _per_example(name, grads):
    # contrib.dpsgd takes per-example gradients (a leading batch axis).
    if name == "contrib.dpsgd":
        return jax.tree.map(lambda g: g[None], grads)
    return grads


def _transformation(name, bits):
    factory = tsx.optimizers.registry()[name].factory
    kwargs = {
        n: REQUIRED[n]
        for n, p in inspect.signature(factory).parameters.items()
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    tx = factory(**kwargs)
    if bits != 32:
        tx = tsx.quantized_state(tx, bits, min_size=8)
    return tsx.with_extra_args_support(tx)


def _nnx_and_dict_params(make_tx, name="", steps=2):
    """Params after ``steps`` updates: under nnx.Optimizer, and on a dict."""
    graphdef, state = nnx.split(nnx.Linear(16, 8, rngs=nnx.Rngs(0)))

    @jax.jit
    def run(state):
        params = nnx.to_pure_dict(state)  # before the model's updates
        model = nnx.merge(graphdef, state)
        optimizer = nnx.Optimizer(model, make_tx(), wrt=nnx.Param)
        for _ in range(steps):
            value, grads = nnx.value_and_grad(lambda m: jnp.mean((m(X) - Y) ** 2))(
                model
            )
            pure = nnx.as_pure(grads)
            optimizer.update(
                model, _per_example(name, grads), **_extra_args(name, value, pure)
            )
        tx = make_tx()
        opt_state = tx.init(params)
        for _ in range(steps):
            value, grads = jax.value_and_grad(_loss)(params)
            updates, opt_state = tx.update(
                _per_example(name, grads),
                opt_state,
                params,
                **_extra_args(name, value, grads),
            )
            params = tsx.apply_updates(params, updates)
        return nnx.to_pure_dict(nnx.state(model, nnx.Param)), params

    return run(state)


def _initial():
    return nnx.to_pure_dict(nnx.state(nnx.Linear(16, 8, rngs=nnx.Rngs(0)), nnx.Param))


def _check(got, want):
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(got))
    # The step moved the kernel (the test would pass on a no-op otherwise).
    assert not np.array_equal(got["kernel"], _initial()["kernel"])


@pytest.mark.parametrize("bits", [32, 16, 8, 4])
def test_every_registered_optimizer_under_nnx_optimizer(bits):
    failures = []
    for name in tsx.optimizers.available():
        try:
            _check(
                *_nnx_and_dict_params(
                    lambda name=name: _transformation(name, bits), name
                )
            )
        except Exception as err:  # noqa: BLE001 - report every optimizer
            failures.append(f"{name}: {type(err).__name__}: {str(err)[:300]}")
    assert not failures, "\n".join(failures)


def _labels(params):
    return jax.tree.map(lambda x: "matrix" if x.ndim == 2 else "vector", params)


def _is_matrix(params):
    return jax.tree.map(lambda x: x.ndim == 2, params)


WRAPPERS = {
    "chain": lambda: tsx.chain(tsx.clip_by_global_norm(1.0), tsx.adamw(1e-2)),
    "partition": lambda: tsx.partition(
        {"matrix": tsx.contrib.muon(1e-2), "vector": tsx.adam(1e-2)}, _labels
    ),
    "multi_transform": lambda: tsx.multi_transform(
        {"matrix": tsx.sgd(1e-2, momentum=0.9), "vector": tsx.adam(1e-2)}, _labels
    ),
    "masked": lambda: tsx.chain(
        tsx.masked(tsx.add_decayed_weights(0.1), _is_matrix), tsx.adam(1e-2)
    ),
    "MultiSteps": lambda: tsx.MultiSteps(tsx.adam(1e-2), every_k_schedule=2),
    "inject_hyperparams": lambda: tsx.inject_hyperparams(tsx.adamw)(learning_rate=1e-2),
    "apply_if_finite": lambda: tsx.apply_if_finite(tsx.adam(1e-2), 3),
}


@pytest.mark.parametrize("bits", [32, 8])
@pytest.mark.parametrize("wrapper", sorted(WRAPPERS))
def test_wrappers_under_nnx_optimizer(wrapper, bits):
    def make():
        tx = WRAPPERS[wrapper]()
        return tx if bits == 32 else tsx.quantized_state(tx, bits, min_size=8)

    _check(*_nnx_and_dict_params(make, steps=3 if wrapper == "MultiSteps" else 2))
