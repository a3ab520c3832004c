"""Finding a service's root URL in a Keystone catalog. Pure."""
from __future__ import annotations

import re
from collections.abc import Iterable

# A catalog URL ends with the version and, for some services, the project: strip both to get
# the root that OCX's paths (which carry the version themselves) are appended to.
_VERSION_TAIL = re.compile(r"/v\d+(\.\d+)?(/(%\(project_id\)s|\$\(project_id\)s|[0-9a-fA-F-]{32,36}))?/?$")


def service_root(url: str) -> str:
    """``http://h:8776/v3/abc...`` → ``http://h:8776``; ``http://h:9292`` stays as it is."""
    return _VERSION_TAIL.sub("", url.rstrip("/")).rstrip("/")


def find_endpoint(catalog: Iterable[dict], types: Iterable[str], interface: str,
                  region: str | None = None) -> str | None:
    """The URL of the first of ``types`` the catalog has at ``interface`` (and ``region``)."""
    entries = list(catalog or ())
    for stype in types:
        for entry in entries:
            if entry.get("type") != stype:
                continue
            for endpoint in entry.get("endpoints", ()):
                if endpoint.get("interface") != interface:
                    continue
                if region and region not in (endpoint.get("region_id"), endpoint.get("region")):
                    continue
                return endpoint.get("url")
    return None
