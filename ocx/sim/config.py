"""The simulator's small INI file: which clouds, which services, which ports.

```ini
[sim]
control_port = 8999
notifications = amqp://guest:guest@127.0.0.1:5672/

[cloud idp]
services = nova, cinder, glance, neutron
ports = keystone:5000, nova:8774

[cloud bu]
services = cinder, glance
idp = idp
token_ttl = 3600
settings = nova.cinder_url=http://127.0.0.1:9000/v3/%(project_id)s
```
"""
from __future__ import annotations

import configparser
from dataclasses import dataclass

from .cloud import KNOWN_SERVICES, SERVICE_NAMES, CloudSpec


@dataclass(frozen=True)
class SimConfig:
    clouds: list[CloudSpec]
    control_port: int = 0
    notifications: str | None = None


def _pairs(text: str, what: str, sep: str) -> dict[str, str]:
    result = {}
    for item in (i.strip() for i in text.replace("\n", ",").split(",")):
        if not item:
            continue
        key, found, value = item.partition(sep)
        if not found or not key.strip() or not value.strip():
            raise ValueError(f"{what}: expected key{sep}value, got {item!r}")
        result[key.strip()] = value.strip()
    return result


def parse_config(text: str) -> SimConfig:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    clouds = []
    for section in parser.sections():
        if not section.startswith("cloud "):
            continue
        name = section.removeprefix("cloud ").strip()
        opts = parser[section]
        services = tuple(s.strip() for s in opts.get("services", ",".join(SERVICE_NAMES))
                         .split(",") if s.strip())
        unknown = set(services) - set(KNOWN_SERVICES)
        if unknown:
            raise ValueError(f"cloud {name}: unknown services {', '.join(sorted(unknown))}")
        ports = {k: int(v) for k, v in _pairs(opts.get("ports", ""), "ports", ":").items()}
        clouds.append(CloudSpec(
            name=name, services=services, ports=ports, idp=opts.get("idp") or None,
            host=opts.get("host", "127.0.0.1"), region=opts.get("region", "RegionOne"),
            token_ttl=opts.getint("token_ttl", 3600),
            settings=_pairs(opts.get("settings", ""), "settings", "=")))
    if not clouds:
        raise ValueError("no [cloud NAME] sections")
    names = {c.name for c in clouds}
    for cloud in clouds:
        if cloud.idp and cloud.idp not in names:
            raise ValueError(f"cloud {cloud.name}: idp {cloud.idp!r} is not a cloud of this file")
    sim = parser["sim"] if parser.has_section("sim") else {}
    return SimConfig(clouds=clouds, control_port=int(sim.get("control_port", 0)),
                     notifications=sim.get("notifications") or None)
