"""Every Python code block of the docs runs and checks what it shows.

Pages run like notebooks (blocks in order, one namespace per page). A block
followed by an ``output`` block must print exactly that (doctest's
``ELLIPSIS`` and whitespace normalisation apply); any other block must
assert something itself.
"""

from __future__ import annotations

import contextlib
import doctest
import io

import matplotlib
import pytest

from tests.docs.markdown_blocks import DOCS, asserts_something, blocks, pages

matplotlib.use("Agg")

RUNNABLE = ("python", "plot")
PAGES_WITH_CODE = [p for p in pages() if any(b.lang in RUNNABLE for b in blocks(p))]
_CHECKER = doctest.OutputChecker()
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def test_the_docs_have_code_to_run():
    # Guards against the block parser silently finding nothing.
    assert len(PAGES_WITH_CODE) >= 10, PAGES_WITH_CODE


@pytest.mark.parametrize(
    "page", PAGES_WITH_CODE, ids=lambda p: str(p.relative_to(DOCS))
)
def test_page_code_blocks(page):
    import matplotlib.pyplot as plt

    page_blocks = blocks(page)
    namespace: dict = {"__name__": f"docs.{page.stem}"}
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
            expected = following.code if following and following.lang == "output" else None
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
