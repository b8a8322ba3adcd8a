"""The ImageNet throughput benchmark runs end to end on a tiny ResNet.

No timing is asserted; the checks are that both variants train the same
model the same way (Optax is the oracle: identical parameters after the same
steps), and that the record says what was run.
"""

import json
import sys

import pytest

from benchmarks import imagenet_throughput as bench


def test_tiny_resnet_matches_optax_and_records_the_run(tmp_path, monkeypatch):
    first = "optax"  # the non-default build order
    out = tmp_path / "r.json"
    argv = [
        "imagenet_throughput.py",
        *("--model", "ResNet18", "--num_filters", "4", "--image_size", "16"),
        *("--batch_size", "4", "--dtype", "float32", "--warmup", "1"),
        *("--steps", "1", "--rounds", "2", "--first", first, "--out", str(out)),
    ]
    monkeypatch.setattr(sys, "argv", argv)
    bench.main()
    record = json.loads(out.read_text())
    assert record["max_param_diff"] == 0.0
    assert record["args"]["first"] == first
    assert record["config"]["model"] == "ResNet18"
    for name in ("tsx", "optax"):
        rates = record["images_per_sec"][name]
        assert len(rates) == 2 and all(r > 0 for r in rates)
    ratio = (
        record["median_images_per_sec"]["tsx"]
        / (record["median_images_per_sec"]["optax"])
    )
    assert record["tsx_over_optax"] == pytest.approx(ratio)
