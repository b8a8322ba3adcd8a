"""Forced CPU devices and per-device bytes, for the sharding benchmarks.

Importing this module does not import JAX: :func:`force_cpu_devices` must run
before JAX starts.
"""

from __future__ import annotations

import os
from typing import Any


def force_cpu_devices(count: int) -> None:
    """Make JAX (not yet imported) see ``count`` CPU devices."""
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "")
        + f" --xla_force_host_platform_device_count={count}"
    )
    os.environ.setdefault("JAX_PLATFORMS", "cpu")


def per_device_bytes(tree: Any) -> int:
    """The bytes of ``tree``'s arrays on its fullest device."""
    import jax

    used: dict = {}
    for leaf in jax.tree.leaves(tree):
        for shard in leaf.addressable_shards:
            used[shard.device] = used.get(shard.device, 0) + shard.data.nbytes
    return max(used.values())
