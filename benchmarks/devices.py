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


COLLECTIVES = (
    "all-gather",
    "all-reduce",
    "all-to-all",
    "collective-permute",
    "reduce-scatter",
)
_BYTES = {"pred": 1, "s8": 1, "u8": 1, "bf16": 2, "f16": 2, "s32": 4, "u32": 4}


def collectives(hlo: str) -> dict[str, dict[str, float]]:
    """Count and output bytes (per device) of each collective in optimized HLO.

    ``hlo`` is ``compiled.as_text()``: one SPMD program, so the shapes are
    each device's. An asynchronous pair (``-start``/``-done``) counts once;
    a collective with a tuple of outputs counts every element's bytes.
    """
    import re

    found: dict[str, dict[str, float]] = {}
    ops = "|".join(COLLECTIVES)
    for line in hlo.splitlines():
        match = re.search(rf"= (.*?) ({ops})(-start)?\(", line)
        if match is None:
            continue
        shapes = re.findall(r"(\w+)\[([\d,]*)\]", match.group(1))
        if match.group(3):  # an async start's tuple: (operands, outputs)
            shapes = shapes[len(shapes) // 2 :]
        size = 0
        for dtype, dims in shapes:
            count = 1
            for d in filter(None, dims.split(",")):
                count *= int(d)
            size += count * _BYTES.get(dtype, 4)
        entry = found.setdefault(match.group(2), {"count": 0, "MiB": 0.0})
        entry["count"] += 1
        entry["MiB"] += size / 2**20
    return found
