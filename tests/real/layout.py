"""Where one cloud's pieces are during one run: its folder, ports, passwords and URLs."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"
REGION = "RegionOne"
# The services (ports) each cloud runs. A, the identity provider, also runs Nova with
# Placement and a RabbitMQ node of its own, and has a port for its OCX (started by whoever
# uses the clouds, gateway.py), which Nova reaches Glance and Cinder through; B, the service
# provider, Apache with mellon.
SERVICES = ("keystone", "glance", "cinder", "neutron")
NOVA_SERVICES = ("placement", "nova", "rabbitmq", "rabbitmq-dist", "epmd")
CLOUD_PORTS = {"a": SERVICES + NOVA_SERVICES + ("ocx",), "b": SERVICES + ("apache",)}
# The users the services authenticate as (keystonemiddleware, Nova's clients), in the
# project "service", with the role admin.
SERVICE_USERS = ("glance", "cinder", "neutron")
NOVA_USERS = ("nova", "placement")
# Nova's compute host: the name Neutron's test mechanism driver binds ports for.
COMPUTE_HOST = "host-ovs-no_filter"


def service_users(cloud_name: str) -> tuple[str, ...]:
    return SERVICE_USERS + (NOVA_USERS if "nova" in CLOUD_PORTS[cloud_name] else ())


@dataclass
class Cloud:
    name: str                 # "a" (K2K identity provider) or "b" (service provider)
    dir: Path                 # this run's folder of the cloud: configs, databases, keys, logs
    venv: Path                # the OpenStack services' venv
    ports: dict[str, int]     # service name -> loopback port
    passwords: dict[str, str] = field(default_factory=dict)  # user name -> password

    @property
    def id(self) -> str:
        return f"cloud-{self.name}"

    @property
    def is_sp(self) -> bool:
        return "apache" in self.ports

    @property
    def has_nova(self) -> bool:
        return "nova" in self.ports

    def base(self, service: str) -> str:
        return f"http://{LOOPBACK}:{self.ports[service]}"

    @property
    def keystone_url(self) -> str:
        """Keystone itself (gunicorn), what the cloud's own services validate tokens with."""
        return self.base("keystone") + "/v3"

    @property
    def auth_url(self) -> str:
        """The public identity URL: B's Keystone is reached through Apache and mellon."""
        return self.base("apache" if self.is_sp else "keystone") + "/v3"

    @property
    def ocx_url(self) -> str:
        """The cloud's OCX (A's): its home is this cloud's Keystone."""
        return self.base("ocx")

    @property
    def transport_url(self) -> str:
        return f"rabbit://guest:guest@{LOOPBACK}:{self.ports['rabbitmq']}/"

    def endpoints(self) -> dict[str, str]:
        """Catalog entries (service type -> public URL) as the services are registered."""
        found = {"identity": self.auth_url, "image": self.base("glance"),
                 "volumev3": self.base("cinder") + "/v3", "network": self.base("neutron")}
        if self.has_nova:
            found.update(compute=self.base("nova") + "/v2.1", placement=self.base("placement"))
        return found

    def bases(self) -> dict[str, str]:
        """Every base URL of the cloud, by service (what moves when the ports change)."""
        return {name: self.base(name) for name in self.ports}

    def log(self, what: str) -> Path:
        return self.dir / "logs" / f"{what}.log"

    def bin(self, command: str) -> str:
        return str(self.venv / "bin" / command)

    def etc(self, *parts: str) -> str:
        """A file the services ship (paste pipelines, filter lists) in the venv's etc/."""
        return str(self.venv.joinpath("etc", *parts))
