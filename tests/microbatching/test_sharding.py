"""Microbatching under an explicit-sharding mesh (4 forced CPU devices).

Runs in a subprocess because the device count is fixed when JAX starts.
(Optax 0.2.8 fails here with jax >= 0.10: it compares version strings
lexicographically and takes its pre-0.7 path, so the values are checked
against the unsharded computation instead.)
"""

import textwrap

from tests.devices import run_with_cpu_devices

SCRIPT = textwrap.dedent(
    """
    import json
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import AxisType, NamedSharding, PartitionSpec as P
    import tsx

    mb = tsx.microbatching
    mesh = jax.make_mesh((4,), ("data",), axis_types=(AxisType.Explicit,))
    host = np.arange(32.0, dtype=np.float32).reshape(16, 2)
    out = {}
    with jax.set_mesh(mesh):
        x = jax.device_put(host, NamedSharding(mesh, P("data")))
        split = jax.jit(lambda x: mb.reshape_batch_axis(x, 8))(x)
        out["split_spec"] = str(split.sharding.spec)
        out["split"] = np.asarray(split).tolist()
        doubled = jax.jit(mb.micro_vmap(lambda r: r * 2.0, microbatch_size=8))(x)
        out["concat_spec"] = str(doubled.sharding.spec)
        out["concat"] = np.asarray(doubled).tolist()
        sq = jax.jit(mb.microbatch(lambda r: (r**2).sum(0), 0, 4))(x)
        out["sum"] = np.asarray(sq).tolist()
        try:
            jax.jit(lambda x: mb.reshape_batch_axis(x, 2))(x)
            out["error"] = None
        except ValueError as e:
            out["error"] = str(e)
    print(json.dumps(out))
    """
)


def test_explicit_sharding_keeps_the_batch_sharded():
    out = run_with_cpu_devices(SCRIPT, count=4)
    host = [[2.0 * r, 2.0 * r + 1] for r in range(16)]
    # Column-major split: microbatch i holds rows i, i + 2, ..., i + 14.
    assert out["split"] == [[host[i + 2 * j] for j in range(8)] for i in range(2)]
    # The batch sharding moves to the rows-per-microbatch axis.
    assert out["split_spec"] in ("P(None, 'data', None)", "P(None, 'data')")
    assert out["concat"] == [[2 * v for v in row] for row in host]
    assert out["concat_spec"] in ("P('data', None)", "P('data',)")
    evens, odds = (sum(row[k] ** 2 for row in host) for k in (0, 1))
    assert out["sum"] == [evens, odds]
    assert out["error"] is not None and "microbatch_size=2" in out["error"]
