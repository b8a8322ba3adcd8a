"""tsx.sharding's placement helpers: cond's choice of kernel, reshard by spec."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

import tsx
from tests.devices import run_with_cpu_devices

COND_SCRIPT = """
import json
import jax, jax.numpy as jnp
from jax.sharding import AxisType, NamedSharding, PartitionSpec as P
import tsx

def step(x):
    return tsx.sharding.cond(x[0] > 0, lambda: x * 2.0, lambda: x - 1.0)

def kernel(fn, *args):
    text = str(jax.make_jaxpr(fn)(*args))
    return "cond" if "cond[" in text else "select"

x = jnp.arange(8.0)
eight = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Auto,))
one = jax.make_mesh((1,), ("data",), axis_types=(AxisType.Auto,))
out = {"no mesh": kernel(step, x)}
with jax.set_mesh(eight):
    out["8 devices in context"] = kernel(step, x)
    out["value"] = [float(v) for v in jax.jit(step)(x)]
with jax.set_mesh(one):
    out["1 device in context"] = kernel(step, x)

def in_work(x):
    with tsx.sharding.distribute_matrix_work(eight, "data"):
        return step(x)

out["work axis"] = kernel(in_work, x)
print(json.dumps(out))
"""


def test_cond_selects_on_a_mesh_of_several_cpu_devices_only():
    out = run_with_cpu_devices(COND_SCRIPT, timeout=300)
    # The process has 8 devices throughout: the mesh in use decides.
    assert out["no mesh"] == "cond"
    assert out["1 device in context"] == "cond"
    assert out["8 devices in context"] == "select"
    assert out["work axis"] == "select"
    np.testing.assert_array_equal(out["value"], np.arange(8.0) - 1.0)


def test_cond_takes_the_branch_of_the_predicate():
    x = jnp.array([1.0, 2.0])
    got = jax.jit(lambda x: tsx.sharding.cond(x[0] > 0, lambda: x * 2, lambda: -x))(x)
    np.testing.assert_array_equal(got, [2.0, 4.0])


def test_reshard_takes_a_partition_spec_without_a_mesh():
    x = {"a": jnp.ones((4, 2)), "b": None}
    got = tsx.sharding.reshard(x, P())
    assert got["b"] is None
    np.testing.assert_array_equal(got["a"], x["a"])
