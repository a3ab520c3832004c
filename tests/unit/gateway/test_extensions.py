"""Extensions register for methods and path templates, compiled once."""
from __future__ import annotations

from multidict import CIMultiDict, MultiDict

from ocx.api.request import parse
from ocx.extensions.base import Extension, Extensions


class Attach(Extension):
    name = "attach"
    methods = frozenset({"POST"})
    paths = ("/compute/servers/{server_id}/os-volume_attachments",)


def req(method, path):
    return parse(method, path, MultiDict(), CIMultiDict())


def test_a_template_matches_with_and_without_the_project_in_the_path():
    exts = Extensions([Attach()])
    for path in ("/compute/v2.1/servers/vm1/os-volume_attachments",
                 "/compute/v2.1/" + "a" * 32 + "/servers/vm1/os-volume_attachments"):
        [(ext, params)] = exts.match(req("POST", path))
        assert isinstance(ext, Attach) and params == {"server_id": "vm1"}


def test_other_methods_and_paths_do_not_match():
    exts = Extensions([Attach()])
    assert exts.match(req("GET", "/compute/v2.1/servers/vm1/os-volume_attachments")) == []
    assert exts.match(req("POST", "/compute/v2.1/servers/vm1/action")) == []


def test_extensions_are_loaded_by_name_from_entry_points_in_the_order_configured(monkeypatch):
    from importlib.metadata import EntryPoint

    import ocx.extensions.base as base

    class Other(Extension):
        name = "other"

        def __init__(self, store=None):
            self.store = store

    points = [EntryPoint("attach", f"{__name__}:Attach", base.ENTRY_POINT_GROUP),
              EntryPoint("other", f"{__name__}:Other", base.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(base, "entry_points", lambda group: points)
    globals()["Other"] = Other
    loaded = base.load(["other", "attach"], store="the-store", executor="ignored")
    assert [type(e).__name__ for e in loaded] == ["Other", "Attach"]
    assert next(iter(loaded)).store == "the-store"


def test_an_unknown_extension_name_is_refused_with_what_is_installed(monkeypatch):
    import pytest

    import ocx.extensions.base as base
    monkeypatch.setattr(base, "entry_points", lambda group: [])
    with pytest.raises(ValueError, match="unknown extension 'nope'"):
        base.load(["nope"])
