"""Sphinx configuration of the course website (``make book``; see docs/website.md).

The site must work from a USB stick in a classroom without internet: notebooks are rendered
from their committed outputs (never executed), MathJax is copied into the site from the
``django-static-mathjax`` wheel (the ``book`` extra installs it), and nothing is loaded from
another host.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import mathjax
from sphinx.application import Sphinx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_site import source_url

project = "rnn-course"
author = "the rnn-course authors"
copyright = "the rnn-course authors, MIT licence"

extensions = ["myst_nb"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# Render the committed full-mode outputs; never run a notebook (it takes hours).
nb_execution_mode = "off"
nb_merge_streams = True
# ipywidgets' manager would come from a CDN; the notebooks keep static previews instead.
nb_ipywidgets_js: dict[str, dict[str, str]] = {}

html_theme = "sphinx_book_theme"
html_title = "Recurrent neural networks with PyTorch"
html_theme_options = {
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "navigation_with_keys": False,
}
# pydata-sphinx-theme logs a console error when no colour mode is set.
html_context = {"default_mode": "auto"}
if source_url():
    html_theme_options |= {"repository_url": source_url(), "use_repository_button": True}
html_copy_source = False
# A search result's summary is fetched from its page, which browsers refuse on file:// pages.
html_show_search_summary = False
html_show_sourcelink = False
html_last_updated_fmt = None

# MathJax 3 from the site itself (SVG output: no web fonts at all).
MATHJAX = Path(mathjax.__file__).parent / "static" / "mathjax"
MATHJAX_PARTS = ("tex-svg.js", "input", "ui", "a11y", "sre")
mathjax_path = "mathjax/tex-svg.js"


def copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    """Copy the MathJax files the pages load (and those it loads lazily) into ``_static``.

    Only the ES5 bundle with SVG output, its TeX extensions, menu and accessibility parts: the
    wheel's sources and other bundles would add 30 MB to every copy of the site.
    """
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / "mathjax"
    for part in MATHJAX_PARTS:
        source = MATHJAX / "es5" / part
        if source.is_dir():
            shutil.copytree(source, target / part, dirs_exist_ok=True)
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / part)
    shutil.copy2(MATHJAX / "LICENSE", target / "LICENSE")


def drop_template_fragments(app: Sphinx, exception: Exception | None) -> None:
    """Delete the themes' Jinja macro files that Sphinx copies into ``_static`` as they are:
    they are no pages, and their unrendered ``{{ pathto(...) }}`` links lead nowhere."""
    if exception is None and app.builder.format == "html":
        for fragment in (Path(app.outdir) / "_static").glob("*macros.html"):
            fragment.unlink()


def setup(app: Sphinx) -> None:
    app.connect("build-finished", copy_mathjax)
    app.connect("build-finished", drop_template_fragments)
