"""Optax's own test suite, unmodified, run against Optax and against tsx.

Usage::

    git clone --branch v0.2.8 --depth 1 <optax repository> /tmp/optax-0.2.8
    python -m benchmarks.optax_suite.run --optax-src /tmp/optax-0.2.8 [-n 2]

Runs every ``*_test.py`` of the source tree twice with pytest: once with the
installed Optax (which must be the same version), once with ``optax`` resolved
to tsx by :mod:`benchmarks.optax_suite.conftest_shim`. It prints how many of
the tests that pass on Optax pass on tsx, splits them into those that ran on
tsx's names alone and those that also used an Optax-private helper, lists the
failures, and writes everything to ``benchmarks/results/optax_suite.json``.
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

_LINE = re.compile(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S+)")


def _run(src: str, workers: int, as_tsx: bool, report: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.getcwd(), src]
        + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    env["OPTAX_SOURCE_ROOT"] = src
    env["TSX_AS_OPTAX"] = "1" if as_tsx else "0"
    env["TSX_FALLBACK_REPORT"] = report
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-rA",
        "--tb=line",
        "-p",
        "no:cacheprovider",
        "-p",
        "benchmarks.optax_suite.conftest_shim",
        "--rootdir",
        src,
        "-n",
        str(workers),
        "-o",
        "addopts=",
        "-o",
        "filterwarnings=",
        os.path.join(src, "optax"),
    ]
    label = "tsx" if as_tsx else "optax"
    print(f"running Optax's tests against {label} ...", flush=True)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=src)
    outcomes = {}
    for line in proc.stdout.splitlines():
        m = _LINE.match(line)
        if m:
            outcomes[m.group(2)] = m.group(1)
    print(proc.stdout.splitlines()[-1] if proc.stdout else proc.stderr[-2000:])
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--optax-src", required=True)
    parser.add_argument("-n", type=int, default=2, help="pytest-xdist workers")
    parser.add_argument("--out", default="benchmarks/results/optax_suite.json")
    args = parser.parse_args()
    src = os.path.abspath(args.optax_src)
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "fallbacks")
        optax_runs = _run(src, args.n, False, prefix)
        tsx_runs = _run(src, args.n, True, prefix)
        used_private: set[str] = set()
        for path in glob.glob(prefix + ".*.json"):
            with open(path) as f:
                used_private |= {k for k in json.load(f) if k}
    baseline = sorted(t for t, o in optax_runs.items() if o == "PASSED")
    plain = [t for t in baseline if t not in used_private]
    helper = [t for t in baseline if t not in set(plain)]
    not_passing = {
        t: tsx_runs.get(t, "MISSING") for t in baseline if tsx_runs.get(t) != "PASSED"
    }
    summary = {
        "optax_passed": len(baseline),
        "tsx_names_only": len(plain),
        "tsx_names_only_passed": sum(tsx_runs.get(t) == "PASSED" for t in plain),
        "with_optax_private_helper": len(helper),
        "with_optax_private_helper_passed": sum(
            tsx_runs.get(t) == "PASSED" for t in helper
        ),
        "not_passing_on_tsx": not_passing,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    print(json.dumps({k: v for k, v in summary.items() if k != "not_passing_on_tsx"}))
    for test, row in sorted(not_passing.items()):
        helper = (
            " (uses an Optax-private helper)"
            if row["used_optax_private_helper"]
            else ""
        )
        print(f"{row['outcome']:8s} {test}{helper}")


if __name__ == "__main__":
    main()
