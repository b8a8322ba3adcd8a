"""Reading the fenced code blocks of the docs' Markdown pages.

A page is run like a notebook: its ``python`` blocks (and the code of its
``{plot}`` blocks) execute in order in one namespace. A block's printed output
is checked against the ``output`` block that directly follows it; a block
with no ``output`` block must contain an ``assert``. ``bash`` blocks are
commands for a shell and are checked separately (see ``test_commands``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"

_FENCE = re.compile(
    r"^(?P<fence>`{3,})(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$",
    re.S | re.M,
)


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
    return sorted(
        p for p in DOCS.rglob("*.md") if "_build" not in p.relative_to(DOCS).parts
    )


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    found = []
    for match in _FENCE.finditer(text):
        info = match.group("info").strip()
        body = match.group("body")
        line = text.count("\n", 0, match.start()) + 1
        if info.startswith("{plot}"):
            lang, body = "plot", _strip_directive_options(body)
        elif info.startswith("{"):
            lang = info[1:].split("}", 1)[0]
        else:
            lang = info.split()[0] if info else ""
        found.append(Block(page, line, lang, body))
    return found


def _strip_directive_options(body: str) -> str:
    lines = body.splitlines(keepends=True)
    while lines and re.match(r"^:[\w-]+:", lines[0]):
        lines.pop(0)
    return "".join(lines)


def asserts_something(code: str) -> bool:
    """True when the code has an ``assert`` or calls an ``assert*`` function."""
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(
                func, "id", ""
            )
            if name.startswith("assert"):
                return True
    return False
