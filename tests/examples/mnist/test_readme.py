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
    assert printed == quoted
