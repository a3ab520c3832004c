"""The guides (doc/source) build with Sphinx as ``make docs`` builds them, a warning being an
error, offline; the configuration reference holds every option OCX defines."""
from __future__ import annotations

import html
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ocx import config

ROOT = Path(__file__).resolve().parents[3]
SOURCE = ROOT / "doc" / "source"

pytestmark = pytest.mark.skipif(importlib.util.find_spec("sphinx") is None,
                                reason="Sphinx is not installed (it comes with the test and "
                                       "docs extras: pip install -e '.[test]')")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("html")
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-E",
                           "-b", "html", "-d", str(out / ".doctrees"), str(SOURCE), str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return out


def test_every_page_is_built_and_linked_from_the_index(built):
    pages = {p.relative_to(SOURCE).with_suffix(".html").as_posix()
             for p in SOURCE.rglob("*.rst")}
    assert {p.relative_to(built).as_posix() for p in built.rglob("*.html")} >= pages
    assert {"operator/architecture.html", "operator/deployment.html",
            "operator/configuration.html", "operator/upgrade.html",
            "operator/troubleshooting.html", "user/index.html"} <= pages
    assert (built / "_images" / "architecture.svg").is_file()


def test_the_configuration_reference_has_every_option_with_its_help(built):
    page = (built / "operator" / "configuration.html").read_text()
    for group, options in config.list_opts():
        assert f">{group or 'DEFAULT'}<" in page, group
        for opt in options:
            assert f">{opt.name}<" in page, (group, opt.name)
    # Each help as reStructuredText renders it: `x` is markup, the words stay; Sphinx's
    # typography puts curly quotes where the help has straight ones.
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())
    text = text.translate(str.maketrans({"\u2019": "'", "\u201c": '"', "\u201d": '"'}))
    for _, options in config.list_opts():
        for opt in options:
            assert " ".join(opt.help.replace("`", "").split()[:6]) in text, opt.name
