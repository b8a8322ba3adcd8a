"""Running a test script on several (forced) CPU devices.

JAX fixes its device count when it starts, so multi-device checks run their
script in a fresh Python with ``--xla_force_host_platform_device_count``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def run_with_cpu_devices(script: str, count: int = 8, timeout: int = 300) -> Any:
    """Runs ``script`` with ``count`` CPU devices; returns the JSON value of
    the last line it prints (failing with its stderr if it fails)."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    # XLA ends the process when a device thread reaches a collective 40 s
    # after the others; on a loaded 2-core machine (pytest -n 2 compiling
    # beside it) that happens without anything being wrong. ``timeout``
    # bounds the run instead.
    env["XLA_FLAGS"] = (
        f"--xla_force_host_platform_device_count={count}"
        f" --xla_cpu_collective_call_terminate_timeout_seconds={timeout}"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
