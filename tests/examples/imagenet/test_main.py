"""The ImageNet example's command line: every bad command is one line, exit 1."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SMOKE = "--config=examples/imagenet/configs/cpu_smoke.py"

FAILURES = {
    "negative_lr": (["--config.learning_rate=-0.1"], "learning_rate=-0.1"),
    "unknown_optimizer": (["--config.optimizer=adamm"], "Unknown optimizer 'adamm'"),
    "unknown_model": (["--config.model=ResNet19"], "model='ResNet19'"),
    "misspelt_key": (["--config.learnig_rate=0.1"], 'Did you mean "learning_rate"'),
    "bad_number": (["--config.batch_size=abc"], "invalid literal for int()"),
    "unprepared_data": (
        ["--config.fake_data=False", "--config.tfds_data_dir={tmp}/tfds"],
        "TFDS cannot prepare 'imagenet2012'",
    ),
    "bad_kwarg": (
        ["--config.optimizer_kwargs.sgd.momentun=0.9"],
        "bad command line",
    ),
}


def test_bad_commands_fail_in_one_line_without_debris(tmp_path):
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    cases = {
        name: ([a.format(tmp=tmp_path) for a in args], expected, tmp_path / name)
        for name, (args, expected) in FAILURES.items()
    }
    cases["unwritable_workdir"] = (
        [],
        f"cannot write to the workdir {blocker}",
        blocker / "w",
    )
    procs = {
        name: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "examples.imagenet.main",
                f"--workdir={workdir}",
                SMOKE,
                *args,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, (args, _, workdir) in cases.items()
    }
    for name, proc in procs.items():
        output, _ = proc.communicate(timeout=300)
        _, expected, workdir = cases[name]
        lines = output.strip().splitlines()
        assert proc.returncode == 1, (name, output)
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, output)
        assert expected in lines[0], (name, output)
        assert not workdir.exists(), name
