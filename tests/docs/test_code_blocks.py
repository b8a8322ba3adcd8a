"""Every Python code block of the docs runs and checks what it shows.

Pages run like notebooks (blocks in order, one namespace per page). A block
followed by an ``output`` block must print exactly that; any other block must
assert something itself (see ``markdown_blocks``).
"""

from __future__ import annotations

import pytest

from tests.docs.markdown_blocks import (
    DOCS,
    RUNNABLE,
    asserts_something,
    blocks,
    devices,
    pages,
    run_page,
    run_page_with_devices,
)

PAGES_WITH_CODE = [p for p in pages() if any(b.lang in RUNNABLE for b in blocks(p))]


def test_the_docs_have_code_to_run():
    # Guards against the block parser silently finding nothing.
    assert len(PAGES_WITH_CODE) >= 10, PAGES_WITH_CODE


def test_the_checker_tells_asserting_blocks_apart():
    assert asserts_something("x = 1\nassert x == 1")
    assert asserts_something("np.testing.assert_allclose(a, b)")
    assert not asserts_something("x = 1\nprint(x)")


@pytest.mark.parametrize(
    "page", PAGES_WITH_CODE, ids=lambda p: str(p.relative_to(DOCS))
)
def test_page_code_blocks(page):
    count = devices(page)
    if count is None:
        run_page(page)
    else:
        run_page_with_devices(page, count)
