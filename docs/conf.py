"""Sphinx configuration for the tsx documentation.

Build it with warnings as errors, as CI does::

    sphinx-build -W -j 1 -b html docs docs/_build/html

Everything here works offline: the API reference is generated from the
installed ``tsx`` package (autodoc, autosummary, napoleon), the schedule
gallery's plots are drawn at build time by matplotlib's ``plot`` directive,
MathJax is served from the built site (``sphinx-mathjax-offline``),
and cross-references to JAX and Flax (intersphinx) are enabled only when
their inventories can be fetched (see ``_intersphinx_mapping`` below).
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# Document the checkout being built, not some other installed tsx.
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

import tsx  # noqa: E402

project = "tsx"
author = "the tsx authors"
copyright = "the tsx authors"  # noqa: A001 - Sphinx's name for it
release = tsx.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    # MathJax from the package (copied into _static/mathjax), not from a CDN:
    # math renders with no network at build or view time.
    "sphinx-mathjax-offline",
    "sphinx.ext.intersphinx",
    "matplotlib.sphinxext.plot_directive",
    "tsx_docs",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "README.md", "Thumbs.db", ".DS_Store"]
templates_path = []

# -- Markdown ----------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "dollarmath", "amsmath", "deflist"]
myst_heading_anchors = 3

# -- API reference -------------------------------------------------------------
# The reference pages list their names explicitly (the ``tsx-api`` directive of
# ``_ext/tsx_docs.py``); autosummary only draws the summary tables, so no stub
# pages are generated and the build stays a few dozen pages.
autosummary_generate = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
# Show defaults as written in the source (``b1=0.9``), not as object reprs.
autodoc_preserve_defaults = True
autodoc_inherit_docstrings = False
autoclass_content = "class"
python_maximum_signature_line_length = 88
add_module_names = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
# Attributes sections as one compact field list, not one block per attribute.
napoleon_use_ivar = True

# -- Intersphinx -----------------------------------------------------------------
# Links to JAX, Flax, NumPy and Python need their ``objects.inv`` inventories,
# which Sphinx downloads at build time. The machines this project is built on
# are often offline, and with ``-W`` an unreachable inventory is an error, so
# the mapping is only configured when the inventories can actually be fetched:
#
# * ``TSX_DOCS_INTERSPHINX=1`` always configures it (fail loudly when offline);
# * ``TSX_DOCS_INTERSPHINX=0`` never does (the docs' own tests use this);
# * unset or ``auto``: a quick TCP probe (1.5 s) of each host decides, so an
#   online build links out and an offline build still passes with ``-W``.
#
# Without the mapping, references to JAX/Flax names render as plain code text;
# nothing else changes.
_INVENTORIES = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "jax": ("https://docs.jax.dev/en/latest", None),
    "flax": ("https://flax-linen.readthedocs.io/en/latest", None),
}


def _reachable(url: str, timeout: float = 1.5) -> bool:
    host = url.split("//", 1)[1].split("/", 1)[0]
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _intersphinx_mapping() -> dict:
    mode = os.environ.get("TSX_DOCS_INTERSPHINX", "auto").strip().lower()
    if mode in ("0", "false", "no", "off"):
        return {}
    if mode in ("1", "true", "yes", "on"):
        return dict(_INVENTORIES)
    return {k: v for k, v in _INVENTORIES.items() if _reachable(v[0])}


intersphinx_mapping = _intersphinx_mapping()
intersphinx_timeout = 10

# -- Nitpicky ----------------------------------------------------------------------
# Every reference to a tsx name must resolve (tsx_docs resolves other
# spellings). Names of other libraries link through intersphinx when it is
# on and stay plain text when it is off (an offline build), or when their
# inventories lack them (JAX's private type paths in signatures).
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(jax|jaxlib|numpy|flax|optax|collections|functools|pathlib)(\..*)?"),
]
# Return types that are private in Optax too: users read their fields, never
# build them (a line search's info, the distribution of ``multi_normal``).
nitpick_ignore = [
    ("py:class", "tsx.optimizers._backtracking_linesearch.BacktrackingLinesearchInfo"),
    ("py:class", "tsx._linear_algebra.MultiNormalDiagFromLogScale"),
]

# -- Plots (schedule gallery) ------------------------------------------------------
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 96)]
plot_rcparams = {
    "figure.figsize": (5.0, 2.6),
    "figure.autolayout": True,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "font.size": 9,
}
plot_apply_rcparams = True

# -- HTML ----------------------------------------------------------------------------
html_theme = "furo"
html_title = f"tsx {release}"
html_static_path = ["_static"]
html_css_files = ["tsx.css"]
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": True,
    "top_of_page_buttons": [],
}
pygments_style = "friendly"
pygments_dark_style = "monokai"
