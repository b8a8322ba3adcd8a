"""Per-device param and optimizer-state bytes of the language-model example.

The example's own ``create_train_state`` on a mesh of forced CPU devices,
for each optimizer config and each placement: replicated, ZeRO-1
(``zero_axis="data"``) and ZeRO-1 with FSDP params (``fsdp=True``):

    python benchmarks/lm_sharding.py --devices 8

Prints a Markdown table; bytes are those of the largest per-device share.
"""

from __future__ import annotations

import argparse
import os
import sys

MODES = {"replicated": (None, False), "zero": ("data", False), "fsdp": ("data", True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--optimizers", default="adamw,muon,soap,shampoo,kron")
    parser.add_argument("--state_bits", type=int, default=32)
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks.devices import force_cpu_devices, per_device_bytes

    force_cpu_devices(args.devices)
    import jax
    from jax.sharding import AxisType

    from examples.lm import train
    from examples.lm.configs import default

    mesh = jax.make_mesh((jax.device_count(),), ("data",), axis_types=(AxisType.Auto,))
    print(f"{jax.device_count()} devices, state_bits {args.state_bits}\n")
    print("| optimizer | placement | params / device | state / device | state total |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name in args.optimizers.split(","):
        for mode, (zero, fsdp) in MODES.items():
            config = default.get_config()
            config.update(
                optimizer=name, zero_axis=zero, fsdp=fsdp, state_bits=args.state_bits
            )
            with jax.set_mesh(mesh):
                state = train.create_train_state(config, mesh)
            total = sum(x.nbytes for x in jax.tree.leaves(state.opt_state))
            print(
                f"| {name} | {mode} | {per_device_bytes(state.params) / 1e6:.2f} MB "
                f"| {per_device_bytes(state.opt_state) / 1e6:.2f} MB "
                f"| {total / 1e6:.2f} MB |"
            )


if __name__ == "__main__":
    main()
