"""The result the MNIST README quotes is what the default config prints today."""

import re
import shlex

from tests.examples.mnist.conftest import REPO_ROOT, run_main

README = REPO_ROOT / "examples" / "mnist" / "README.md"


def _quoted_run():
    """The command and the result line under "## Results" in the README."""
    results = README.read_text().split("## Results", 1)[1]
    command = re.search(r"```bash\n(.*?)```", results, re.S).group(1)
    line = re.search(r"```text\n(epoch .*?)\n```", results, re.S).group(1)
    return shlex.split(command.replace("\\\n", " ")), line


def test_the_readme_result_is_reproduced(tmp_path, mnist_5k_dir):
    args, quoted = _quoted_run()
    assert args[:3] == ["python", "-m", "examples.mnist.main"]
    args = [
        f"--workdir={tmp_path}" if a.startswith("--workdir=") else a for a in args[3:]
    ]
    args = [a.replace("/path/to/mnist", str(mnist_5k_dir)) for a in args]
    code, output = run_main(*args, timeout=600)
    assert code == 0, output
    printed = output.strip().splitlines()[-1].split("] ", 1)[1]
    # The same fields; the numbers to within what another CPU's kernels move
    # them (the README says by how much): accuracy 0.01, loss a quarter.
    got, want = _fields(printed), _fields(quoted)
    assert got.keys() == want.keys(), printed
    assert printed.split(":")[0] == quoted.split(":")[0], printed  # the epoch
    for name, value in want.items():
        bound = 0.01 if "accuracy" in name else 0.005 + 0.25 * value
        assert abs(got[name] - value) <= bound, (name, printed, quoted)


def _fields(line: str) -> dict[str, float]:
    return {k: float(v) for k, v in re.findall(r"([a-z_]+) (\d+\.\d+)", line)}
