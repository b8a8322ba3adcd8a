"""Reading and running the fenced code blocks of the docs' Markdown pages.

A page is run like a notebook: its ``python`` blocks (and the code of its
``.. plot::`` directives, written in ``{eval-rst}`` blocks) execute in order
in one namespace. A block's printed output is checked against the ``output``
block that directly follows it (doctest's ``ELLIPSIS`` and whitespace
normalisation apply); a block with no ``output`` block must contain an
``assert``. ``bash`` blocks are commands for a shell and are checked
separately (see ``test_commands``).

A page that needs several devices says so in a comment,
``<!-- docs-test: devices=8 -->``; it is then run in a subprocess with that
many forced host (CPU) devices (``python -m tests.docs.markdown_blocks PAGE``).
"""

from __future__ import annotations

import ast
import contextlib
import doctest
import io
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
ROOT = DOCS.parent
RUNNABLE = ("python", "plot")

_FENCE = re.compile(
    r"^(?P<fence>`{3,})(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$",
    re.S | re.M,
)
_DEVICES = re.compile(r"<!--\s*docs-test:\s*devices=(\d+)\s*-->")
_CHECKER = doctest.OutputChecker()
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str  # "python", "plot", "output", "bash", ...
    code: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(DOCS)}:{self.line}"


def pages() -> list[Path]:
    """The site's Markdown pages (``docs/README.md`` is about the docs, not in them)."""
    return sorted(
        p
        for p in DOCS.rglob("*.md")
        if "_build" not in p.relative_to(DOCS).parts and p != DOCS / "README.md"
    )


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    found = []
    for match in _FENCE.finditer(text):
        info = match.group("info").strip()
        body = match.group("body")
        line = text.count("\n", 0, match.start()) + 1
        if info.startswith("{eval-rst}") and body.lstrip().startswith(".. plot::"):
            # matplotlib's plot directive (it only runs under eval-rst in MyST).
            lang, body = "plot", _plot_code(body)
        elif info.startswith("{"):
            lang = info[1:].split("}", 1)[0]
        else:
            lang = info.split()[0] if info else ""
        found.append(Block(page, line, lang, body))
    return found


def devices(page: Path) -> int | None:
    """The number of devices the page asks to be run with, if any."""
    match = _DEVICES.search(page.read_text())
    return int(match.group(1)) if match else None


def _plot_code(body: str) -> str:
    """The code of a ``.. plot::`` directive: its indented body, options dropped."""
    lines = body.splitlines()[1:]  # after ".. plot::"
    lines = [line for line in lines if not re.match(r"^\s+:[\w-]+:", line)]
    return textwrap.dedent("\n".join(lines)).strip("\n") + "\n"


def asserts_something(code: str) -> bool:
    """True when the code has an ``assert`` or calls an ``assert*`` function."""
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else getattr(func, "id", "")
            )
            if name.startswith("assert"):
                return True
    return False


def run_page(page: Path) -> None:
    """Run the page's code blocks in order; AssertionError on the first failure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    page_blocks = blocks(page)
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    try:
        for i, block in enumerate(page_blocks):
            following = page_blocks[i + 1] if i + 1 < len(page_blocks) else None
            if block.lang == "output":
                previous = page_blocks[i - 1] if i else None
                assert previous is not None and previous.lang in RUNNABLE, (
                    f"{block.where}: an output block must follow a python block"
                )
                continue
            if block.lang not in RUNNABLE:
                continue
            expected = (
                following.code if following and following.lang == "output" else None
            )
            assert expected is not None or asserts_something(block.code), (
                f"{block.where}: the block neither shows its output (an ``output`` "
                "block after it) nor asserts anything"
            )
            stdout = io.StringIO()
            with contextlib.redirect_stdout(stdout):
                exec(compile(block.code, block.where, "exec"), namespace)  # noqa: S102
            if expected is not None:
                got = stdout.getvalue()
                assert _CHECKER.check_output(expected, got, _FLAGS), (
                    f"{block.where}: printed\n{got}\nbut the page shows\n{expected}"
                )
    finally:
        plt.close("all")


def run_page_with_devices(page: Path, count: int, timeout: float = 900) -> None:
    """Run the page in a subprocess that sees ``count`` host devices."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={count}"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.docs.markdown_blocks", str(page)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-6000:]


if __name__ == "__main__":
    run_page(Path(sys.argv[1]))
