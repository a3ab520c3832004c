"""Sphinx configuration of OCX's guides (`make docs`). Built offline: no theme or extension
fetched at build time; the configuration reference is generated from the option definitions
(``ocx.config``, the ``ocx`` namespace of oslo-config-generator) by oslo.config's own
Sphinx extension, as OpenStack's services document theirs."""
from __future__ import annotations

import datetime

project = "OCX"
author = "the OCX project"
copyright = f"{datetime.date.today().year}, {author}"

extensions = [
    # `.. show-options:: ocx`: every option, its type, default and help, from ocx/config.py.
    "oslo_config.sphinxext",
]

root_doc = "index"
exclude_patterns: list[str] = []
# Every reference must resolve (the build runs with -W).
nitpicky = True
html_theme = "alabaster"
html_static_path: list[str] = []
html_title = "OCX: the gateway of an Open Cloud eXchange"
html_show_sourcelink = False
html_last_updated_fmt = None
