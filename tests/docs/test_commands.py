"""The shell commands in the docs point at things that exist.

Commands are not run (they train for minutes, or install packages), but the
example commands are checked: every ``--config=FILE`` exists, every
``--config.key=value`` override names a field of that config, every other
``--flag`` is defined by the example's ``main.py``, and every file or folder
of the repository a command names exists.
"""

from __future__ import annotations

import importlib.util
import re
import shlex

import pytest

from tests.docs.markdown_blocks import ROOT, blocks, pages


def _commands():
    for page in pages():
        for block in blocks(page):
            if block.lang != "bash":
                continue
            text = re.sub(r"\\\n\s*", " ", block.code)  # join continued lines
            for line in text.splitlines():
                line = line.split("#", 1)[0].strip()
                if line.startswith("python -m examples."):
                    yield pytest.param(block, line, id=f"{block.where}:{line[:60]}")


COMMANDS = list(_commands())


def test_the_docs_show_example_commands():
    assert len(COMMANDS) >= 8


def _config_fields(config) -> set[str]:
    fields = set()
    for key, value in config.items():
        fields.add(key)
        if hasattr(value, "items"):
            fields |= {f"{key}.{sub}" for sub in _config_fields(value)}
    return fields


@pytest.mark.parametrize(("block", "line"), COMMANDS)
def test_example_command(block, line):
    args = shlex.split(line)
    module = args[2]  # python -m examples.<name>.main
    main_py = (ROOT / module.replace(".", "/")).with_suffix(".py")
    assert main_py.is_file(), f"{block.where}: no {main_py}"
    # The flags main.py defines, read from its source: importing two examples'
    # mains would define absl's global flags twice.
    defined = set(re.findall(r"DEFINE_\w+\(\s*[\"'](\w+)[\"']", main_py.read_text()))
    config_path = None
    overrides = []
    for arg in args[3:]:
        flag, _, value = arg.partition("=")
        if flag == "--config":
            config_path = ROOT / value
        elif flag.startswith("--config."):
            overrides.append(flag.removeprefix("--config."))
        else:
            name = flag.lstrip("-")
            assert name in defined, f"{block.where}: {module} has no flag {flag}"
    assert config_path is not None, f"{block.where}: give --config explicitly"
    assert config_path.is_file(), f"{block.where}: no config {config_path}"
    spec = importlib.util.spec_from_file_location("_docs_config", config_path)
    config_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(config_module)
    fields = _config_fields(config_module.get_config())
    unknown = [o for o in overrides if o not in fields]
    assert not unknown, f"{block.where}: {config_path.name} has no fields {unknown}"


def test_repository_paths_in_the_docs_exist():
    text = "\n".join(p.read_text() for p in pages())
    paths = set(re.findall(r"`((?:examples|benchmarks|tests)/[\w./-]+)`", text))
    assert paths, "the docs name no repository paths"
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, missing
