"""The documentation builds with warnings as errors, and the result is complete.

One ``sphinx-build -W`` into a temporary folder (offline: intersphinx off, see
``docs/conf.py``), serial (``-j 1``) as on the 2-core CI machine; the
configuration is nitpicky, so every cross-reference to a tsx name must
resolve. Then, on the built site: every page exists, the schedule gallery has
one plot per figure, every public name of tsx is in the API reference —
documented objects in the ``objects.inv`` inventory, other spellings in the
Aliases page's table — and the pages link the names they mention.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys

import pytest
from sphinx.util.inventory import InventoryFile

from tests.docs.markdown_blocks import DOCS, ROOT, pages
from tests.docs.test_api_reference import documented_names, public_names


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs")
    env = dict(os.environ, TSX_DOCS_INTERSPHINX="0", PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-j",
            "1",
            "-b",
            "html",
            "-d",
            str(out / "doctrees"),
            str(DOCS),
            str(out / "html"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-8000:]
    return out / "html"


def test_every_page_is_built(site):
    for page in pages():
        built = site / page.relative_to(DOCS).with_suffix(".html")
        assert built.is_file(), built


def test_schedule_gallery_plots_are_drawn(site):
    text = (site / "guides" / "schedules.html").read_text()
    images = sorted(set(re.findall(r'src="\.\./_images/(schedule-\d+\.png)"', text)))
    assert len(images) == 15, images
    for name in images:
        assert (site / "_images" / name).stat().st_size > 5_000, name


def test_every_public_name_is_in_the_built_reference(site):
    with open(site / "objects.inv", "rb") as f:
        inventory = InventoryFile.load(f, "", os.path.join)
    documented_in_html = {
        name
        for kind, entries in inventory.items()
        if kind.startswith("py:")
        for name in entries
    }
    missing = sorted(set(documented_names()) - documented_in_html)
    assert not missing, f"documented but not in the built inventory: {missing}"

    aliases_page = html.unescape((site / "api" / "aliases.html").read_text())
    not_shown = [
        name
        for name in public_names()
        if name not in documented_in_html and name not in aliases_page
    ]
    assert not not_shown, (
        f"public names in neither the reference nor the aliases: {not_shown}"
    )


def test_pages_load_no_script_or_style_from_the_network(site):
    # Math is rendered by the MathJax copy in _static/mathjax (no CDN), so a
    # page works offline.
    external = re.compile(
        r'<(?:script|link)\b[^>]*(?:src|href)="(?:https?:)?//[^"]*"', re.I
    )
    offenders = {}
    for page in site.rglob("*.html"):
        found = external.findall(page.read_text())
        if found:
            offenders[str(page.relative_to(site))] = found[:2]
    assert not offenders, offenders
    math_page = (site / "api" / "optimizers.html").read_text()
    assert "_static/mathjax/tex-chtml.js" in math_page
    assert (site / "_static" / "mathjax" / "tex-chtml.js").stat().st_size > 100_000
    assert any((site / "_static" / "mathjax" / "output").rglob("*.woff"))


MENTION = re.compile(r"(?<![}\w`])`(tsx\.[A-Za-z_][\w.]*)`(?!`)")


def test_public_names_in_the_prose_are_links(site):
    # The build is nitpicky (every link resolves); here: no page writes a
    # documented name as bare code where it could link to its entry.
    with open(site / "objects.inv", "rb") as f:
        inventory = InventoryFile.load(f, "", os.path.join)
    linkable = {n for k, e in inventory.items() if k.startswith("py:") for n in e}
    unlinked = []
    for page in pages():
        fenced = False
        for number, line in enumerate(page.read_text().splitlines(), 1):
            if line.lstrip().startswith("```"):
                fenced = not fenced
            if not fenced:
                unlinked += [
                    f"{page.relative_to(DOCS)}:{number}: {name}"
                    for name in MENTION.findall(line)
                    if name in linkable
                ]
    assert not unlinked, "write {py:obj}`name`: " + ", ".join(unlinked)
