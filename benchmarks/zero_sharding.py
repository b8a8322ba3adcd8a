"""Optimizer-state bytes per device and step time: replicated, ZeRO-1, FSDP.

The ImageNet example's own functions (model, optimizer, train state, state
shardings, jitted step) on a mesh of forced CPU devices (or the accelerators
of the machine with ``--devices=0``), one configuration at a time in one
process:

    python benchmarks/zero_sharding.py --model ResNet50 --image_size 64 \\
        --batch_size 32 --devices 8 --rounds 5

Prints a Markdown table (per-device optimizer-state and EMA bytes, median
step time over ``rounds`` timed steps after two warm-up steps).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ResNet50")
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--modes", default="replicated,zero,sharded", help="comma-separated"
    )
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks.devices import force_cpu_devices, per_device_bytes

    if args.devices:
        force_cpu_devices(args.devices)
    import jax
    import jax.numpy as jnp
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from examples.imagenet import train
    from examples.imagenet.configs import default

    rows = []
    for mode in args.modes.split(","):
        config = default.get_config()
        config.update(
            model=args.model,
            image_size=args.image_size,
            batch_size=args.batch_size,
            dtype="float32",
            state_sharding=mode,
            ema_decay=0.999,
        )
        mesh = train.create_mesh()
        model = train.create_model(config)
        lr = train.create_learning_rate_fn(config, 100, 1000)
        tx = train.create_optimizer(config, lr)

        def init(config=config, model=model, tx=tx):
            return train.create_train_state(config, model, tx)

        with jax.set_mesh(mesh):
            abstract = jax.eval_shape(init)
            shardings = train.state_shardings(abstract, mesh, config)
            state = jax.jit(init, out_shardings=shardings)()
        jit_train, _ = train.make_steps(model, shardings, mesh, lr)
        data = NamedSharding(mesh, P(train.DATA_AXIS))
        key = jax.random.key(0)
        batch = {
            "image": jax.device_put(
                jax.random.normal(
                    key, (args.batch_size, args.image_size, args.image_size, 3)
                ),
                data,
            ),
            "label": jax.device_put(
                jnp.arange(args.batch_size) % config.num_classes, data
            ),
        }
        times = []
        for i in range(2 + args.rounds):
            start = time.perf_counter()
            state, _ = jit_train(state, batch)
            jax.block_until_ready(state)
            if i >= 2:
                times.append(time.perf_counter() - start)
        total = sum(x.nbytes for x in jax.tree.leaves(state.opt_state))
        rows.append(
            (
                mode,
                per_device_bytes(state.opt_state) / 2**20,
                total / 2**20,
                per_device_bytes(state.ema) / 2**20,
                per_device_bytes(state.params) / 2**20,
                statistics.median(times) * 1e3,
            )
        )
        print(f"{mode}: done", file=sys.stderr, flush=True)
    print(
        f"{args.model}, {args.image_size}px, batch {args.batch_size}, "
        f"{jax.device_count()} {jax.devices()[0].platform} devices, "
        f"median of {args.rounds} steps"
    )
    print()
    print(
        "| state_sharding | opt state / device (MiB) | opt state total (MiB) "
        "| EMA / device (MiB) | params / device (MiB) | step (ms) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for mode, dev, total, ema, params, ms in rows:
        print(
            f"| {mode} | {dev:.2f} | {total:.2f} | {ema:.2f} | {params:.2f} "
            f"| {ms:.0f} |"
        )


if __name__ == "__main__":
    main()
