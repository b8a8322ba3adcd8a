"""Every registered optimizer on Explicit and Auto meshes of 8 CPU devices.

Params are sharded three ways (a kernel on its rows, a bias, a stacked kernel
on its middle dimension); each optimizer's state is created with
``tsx.sharding.init`` (outside any mesh context) and with ``tx.init`` inside
``jax.set_mesh``, then two jitted steps run. On an Explicit mesh the shardings
are types: every state leaf must keep the sharding ``state_shardings`` says.
"""

import pytest

from tests.devices import run_with_cpu_devices

SCRIPT = """
import inspect, json
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P
import tsx

KIND = {kind!r}
REQUIRED = {{"learning_rate": 1e-3, "l2_norm_clip": 1.0, "noise_multiplier": 0.5,
            "seed": 0}}
axis = AxisType.Explicit if KIND == "explicit" else AxisType.Auto
mesh = jax.make_mesh((8,), ("data",), axis_types=(axis,))
SPECS = {{"k": P("data", None), "b": P("data"), "s": P(None, "data", None)}}
SHAPES = {{"k": (256, 128), "b": (256,), "s": (4, 64, 32)}}
rng = np.random.default_rng(0)
params = {{
    k: jax.device_put(
        jnp.asarray(rng.normal(size=SHAPES[k]), jnp.float32),
        NamedSharding(mesh, SPECS[k]),
    )
    for k in SHAPES
}}

def loss_fn(p):
    return sum(jnp.sum(0.5 * jnp.sin(x) + x**2) for x in jax.tree.leaves(p))

def extra(name):
    out = dict(value_fn=loss_fn)
    if name == "contrib.sophia":
        out["obj_fn"] = loss_fn
    return out

failures, checked = [], 0
for name in tsx.optimizers.available():
    factory = tsx.optimizers.registry()[name].factory
    kwargs = {{
        n: REQUIRED[n]
        for n, p in inspect.signature(factory).parameters.items()
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }}
    tx = tsx.with_extra_args_support(factory(**kwargs))
    try:
        expected = tsx.sharding.state_shardings(tx, params)
        state = tsx.sharding.init(tx, params)
        for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(expected)):
            assert got.sharding.is_equivalent_to(want, got.ndim), (got.sharding, want)
        with jax.set_mesh(mesh):
            eager = tx.init(params)

            @jax.jit
            def step(p, s):
                v, g = jax.value_and_grad(loss_fn)(p)
                if name == "contrib.dpsgd":  # per-example gradients
                    g = jax.tree.map(lambda x: x[None], g)
                u, s = tx.update(g, s, p, value=v, grad=g, **extra(name))
                return tsx.apply_updates(p, u), s

            p1, s = step(params, state)
            p, s = step(p1, s)
            p2, _ = step(params, eager)
        for k in p:
            assert np.all(np.isfinite(np.asarray(p[k]))), k
            assert p[k].sharding.is_equivalent_to(params[k].sharding, p[k].ndim), k
        # The eagerly created state gives the same first step.
        np.testing.assert_allclose(np.asarray(p2["k"]), np.asarray(p1["k"]), rtol=1e-6)
        if KIND == "explicit":
            for got, want in zip(jax.tree.leaves(s), jax.tree.leaves(expected)):
                assert got.sharding.is_equivalent_to(want, got.ndim), (
                    got.sharding, want)
        checked += 1
    except Exception as e:
        failures.append(f"{{name}}: {{type(e).__name__}}: {{str(e)[:300]}}")
print(json.dumps({{"checked": checked, "failures": failures,
                  "total": len(tsx.optimizers.available())}}))
"""


@pytest.mark.parametrize("kind", ["explicit", "auto"])
def test_every_optimizer_runs_two_jitted_steps_on_a_mesh(kind):
    result = run_with_cpu_devices(SCRIPT.format(kind=kind), count=8, timeout=600)
    assert result["failures"] == [], "\n".join(result["failures"])
    assert result["checked"] == result["total"] >= 49


WRAPPERS = """
import json
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P
import tsx

KIND = {kind!r}
axis = AxisType.Explicit if KIND == "explicit" else AxisType.Auto
mesh = jax.make_mesh((8,), ("data",), axis_types=(axis,))
SPECS = {{"k": P("data", None), "b": P("data"), "s": P(None, "data", None)}}
SHAPES = {{"k": (256, 128), "b": (256,), "s": (4, 64, 32)}}
rng = np.random.default_rng(0)
params = {{
    k: jax.device_put(jnp.asarray(rng.normal(size=SHAPES[k]), jnp.float32),
                      NamedSharding(mesh, SPECS[k]))
    for k in SHAPES
}}
labels = {{"k": "a", "b": "b", "s": "a"}}
adam = lambda: tsx.adam(1e-3)  # noqa: E731
CASES = {{
    "quantized_state(bits=16)": lambda: tsx.quantized_state(adam(), 16, min_size=16),
    "quantized_state(bits=8)": lambda: tsx.quantized_state(adam(), 8, min_size=16),
    "quantized_state(bits=4)": lambda: tsx.quantized_state(adam(), 4, min_size=16),
    "masked": lambda: tsx.masked(adam(), {{"k": True, "b": False, "s": True}}),
    "partition": lambda: tsx.partition({{"a": adam(), "b": tsx.sgd(0.1)}}, labels),
    "MultiSteps": lambda: tsx.MultiSteps(adam(), 2),
    "apply_if_finite": lambda: tsx.apply_if_finite(adam(), 3),
    "inject_hyperparams": lambda: tsx.inject_hyperparams(tsx.adam)(learning_rate=0.1),
    "schedule_free_adamw": lambda: tsx.contrib.schedule_free_adamw(1e-3),
    "clipping": lambda: tsx.chain(
        tsx.clip(1.0), tsx.clip_by_block_rms(1.0), tsx.adaptive_grad_clip(0.1),
        tsx.clip_by_global_norm(1.0), tsx.centralize(), adam()),
    "add_noise": lambda: tsx.chain(tsx.add_noise(0.1, 0.5, 0), tsx.sgd(0.1)),
    "ema": lambda: tsx.chain(tsx.ema(0.9), tsx.scale(-0.1)),
    "normalize_by_update_norm": lambda: tsx.normalize_by_update_norm(),
    "mechanize": lambda: tsx.contrib.mechanize(adam()),
    "reduce_on_plateau": lambda: tsx.chain(adam(), tsx.contrib.reduce_on_plateau()),
    "zero_nans": lambda: tsx.chain(tsx.zero_nans(), adam()),
    "keep_params_nonnegative": lambda: tsx.chain(adam(),
                                                 tsx.keep_params_nonnegative()),
    "trace(nesterov)": lambda: tsx.chain(tsx.trace(0.9, nesterov=True),
                                         tsx.scale(-0.1)),
    "scale_by_trust_ratio": lambda: tsx.chain(tsx.scale_by_trust_ratio(),
                                              tsx.scale(-0.1)),
    "scale_by_param_block_rms": lambda: tsx.chain(tsx.scale_by_param_block_rms(),
                                                  tsx.scale(-0.1)),
}}

def loss_fn(p):
    return sum(jnp.sum(0.5 * jnp.sin(x) + x**2) for x in jax.tree.leaves(p))

failures = []
for name, make in CASES.items():
    try:
        tx = tsx.with_extra_args_support(make())
        state = tsx.sharding.init(tx, params)
        with jax.set_mesh(mesh):

            @jax.jit
            def step(p, s):
                v, g = jax.value_and_grad(loss_fn)(p)
                u, s = tx.update(g, s, p, value=v)
                return tsx.apply_updates(p, u), s

            p, s = step(*step(params, state))
        assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(p))
    except Exception as e:
        failures.append(f"{{name}}: {{type(e).__name__}}: {{str(e)[:300]}}")
print(json.dumps({{"failures": failures, "count": len(CASES)}}))
"""


@pytest.mark.parametrize("kind", ["explicit", "auto"])
def test_wrappers_and_transformations_run_on_a_mesh(kind):
    result = run_with_cpu_devices(WRAPPERS.format(kind=kind), count=8, timeout=600)
    assert result["failures"] == [], "\n".join(result["failures"])
    assert result["count"] == 20
