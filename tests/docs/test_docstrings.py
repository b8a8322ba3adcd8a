"""The API reference's docstrings: complete for optimizers, and their examples run.

Every public object whose docstring holds a ``>>>`` example is run as a
doctest (ELLIPSIS and NORMALIZE_WHITESPACE, as the pages' code blocks). Every
optimizer in ``tsx.optimizers.available()`` documents each of its arguments
under ``Args:``, names its references, and has an example.
"""

from __future__ import annotations

import doctest
import functools
import inspect
import re
import warnings

import pytest

import tsx
from tests.docs.test_api_reference import public_names


def _with_examples() -> dict[str, object]:
    found: dict[int, tuple[str, object]] = {}
    for name, obj in sorted(public_names().items()):
        doc = getattr(obj, "__doc__", None)
        if isinstance(doc, str) and ">>>" in doc and id(obj) not in found:
            found[id(obj)] = (name, obj)
    return dict(found.values())


EXAMPLES = _with_examples()


def test_the_reference_has_examples_to_run():
    assert len(EXAMPLES) >= len(tsx.optimizers.available())


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_docstring_example_runs(name):
    test = doctest.DocTestParser().get_doctest(
        EXAMPLES[name].__doc__, {}, name, None, 0
    )
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    report: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # optimistic_adam
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)


def _args_section(doc: str) -> str:
    match = re.search(r"^Args:\n(.*?)(?:^\S|\Z)", doc, re.S | re.M)
    return match.group(1) if match else ""


@pytest.mark.parametrize("name", tsx.optimizers.available())
def test_every_optimizer_documents_each_argument_and_shows_an_example(name):
    factory = tsx.optimizers.registry()[name].factory
    doc = inspect.getdoc(factory) or ""
    args = _args_section(doc)
    documented = set(re.findall(r"^  (\w+):", args, re.M))
    target = factory.func if isinstance(factory, functools.partial) else factory
    expected = set(inspect.signature(target).parameters)
    assert expected <= documented, f"{name}: no Args entry for {expected - documented}"
    assert "References:" in doc and "Returns:" in doc, name
    assert "\nExample:\n" in doc and ">>>" in doc, name
    assert ".. math::" in doc or ":math:" in doc, name
