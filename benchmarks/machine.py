"""What a benchmark ran on: the CPU, the devices, versions and the load."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import jax
import optax  # the peer: its version is part of every record


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> str:
    """CPU, core count, JAX devices and the versions of JAX and Optax."""
    devices = jax.devices()
    return (
        f"{cpu_name()}, {os.cpu_count()} cores; {len(devices)} x"
        f" {devices[0].device_kind} ({devices[0].platform}); jax {jax.__version__},"
        f" optax {optax.__version__}"
    )


def load() -> str:
    """The load average (1, 5 and 15 minutes), or that it is unknown."""
    try:
        return "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    except OSError:
        return "load average unknown"
