"""Every example test treats a deprecation of tsx's as an error.

Users copy the examples: they must call current names only. A
``DeprecationWarning`` attributed to an example module or to tsx (where a
deprecated tsx path warns) fails the test; other libraries' warnings keep
pytest's configuration.
"""

import os

import pytest

FILTERS = (
    r"error::DeprecationWarning:examples\..*",
    r"error::DeprecationWarning:tsx\..*",
)


def pytest_collection_modifyitems(items):
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            for spec in FILTERS:
                item.add_marker(pytest.mark.filterwarnings(spec))

