"""Cloud A's Nova (fake virt driver), its Placement, and the RabbitMQ node Nova's services
talk over, all on loopback. nova-compute starts last, once the others answer."""
from __future__ import annotations

import shutil
import sqlite3
from datetime import datetime, timezone

from . import configs
from .keystone import Admin
from .layout import COMPUTE_HOST, LOOPBACK, REGION, Cloud
from .procs import Supervisor, run
from .services import gunicorn, service_env, use_wal

NOVA_DATABASES = ("nova_api", "nova_cell0", "nova", "placement")
FLAVOR = {"name": "real.tiny", "ram": 128, "vcpus": 1, "disk": 1}


def client_section(cloud: Cloud, user: str) -> dict[str, str]:
    """How Nova authenticates to Placement, Neutron, Cinder (keystoneauth options)."""
    return {"auth_type": "password", "auth_url": cloud.keystone_url, "username": user,
            "password": cloud.passwords[user], "project_name": "service",
            "user_domain_name": "Default", "project_domain_name": "Default",
            "region_name": REGION}


def write_configs(cloud: Cloud) -> None:
    (cloud.dir / "nova" / "instances").mkdir(parents=True, exist_ok=True)
    placement = configs.common(cloud, "placement")
    placement.update({"api": {"auth_strategy": "keystone"},
                      "placement_database": {"connection": configs.sqlite(cloud, "placement")},
                      "keystone_authtoken": configs.authtoken(cloud, "placement")})
    configs.write_ini(cloud.dir / "placement.conf", placement)

    nova = configs.common(cloud, "nova")
    nova["DEFAULT"].update({
        # The fake driver of a single node with a stable identity (state_path/compute_id).
        "host": COMPUTE_HOST, "compute_driver": "fake.FakeDriverWithoutFakeNodes",
        "my_ip": LOOPBACK,
        "transport_url": cloud.transport_url, "state_path": str(cloud.dir / "nova"),
        "instances_path": str(cloud.dir / "nova" / "instances"),
        "enabled_apis": "osapi_compute", "osapi_compute_workers": "1",
        # How soon a started compute service says it is up (what the harness waits for).
        "report_interval": "2",
        # No Neutron agent will say the port is plugged: do not wait for it.
        "vif_plugging_is_fatal": "false", "vif_plugging_timeout": "0"})
    # Glance, Cinder and Neutron through the cloud's OCX (where Nova must be to reach an image
    # or a volume of another cloud, and to bind a Gluon port), at OCX's URLs for them;
    # Placement directly.
    cinder = client_section(cloud, "nova")
    cinder["os_region_name"] = cinder.pop("region_name")
    cinder["endpoint_template"] = cloud.ocx_url + "/volume/v3/%(project_id)s"
    nova.update({
        "api": {"auth_strategy": "keystone"},
        "api_database": {"connection": configs.sqlite(cloud, "nova_api")},
        "database": {"connection": configs.sqlite(cloud, "nova")},
        "scheduler": {"workers": "1", "discover_hosts_in_cells_interval": "5"},
        "conductor": {"workers": "1"},
        "keystone_authtoken": configs.authtoken(cloud, "nova"),
        "placement": client_section(cloud, "placement"),
        "neutron": {**client_section(cloud, "nova"),
                    "endpoint_override": cloud.ocx_url + "/network"},
        "glance": {"region_name": REGION, "endpoint_override": cloud.ocx_url + "/image"},
        "cinder": cinder,
        # Nova's calls carry its service token too: Cinder deletes an attachment in use
        # only when asked by a service (bug 2004555).
        "service_user": {**client_section(cloud, "nova"), "send_service_user_token": "true"},
        "oslo_messaging_notifications": {"driver": "noop"},
    })
    configs.write_ini(cloud.dir / "nova.conf", nova)
    # nova.wsgi reads its paste pipeline from its config folder (OS_NOVA_CONFIG_FILES).
    shutil.copyfile(cloud.etc("nova", "api-paste.ini"), cloud.dir / "api-paste.ini")


def sync_databases(cloud: Cloud) -> None:
    """Placement's schema, then Nova's API database, cell0 and cell1 (in this order)."""
    conf = str(cloud.dir / "nova.conf")
    manage = [cloud.bin("nova-manage"), "--config-file", conf]
    steps = [
        [cloud.bin("placement-manage"), "--config-file", str(cloud.dir / "placement.conf"),
         "db", "sync"],
        [*manage, "api_db", "sync"],
        [*manage, "cell_v2", "map_cell0", "--database_connection",
         configs.sqlite(cloud, "nova_cell0")],
        [*manage, "cell_v2", "create_cell", "--name", "cell1"],
        [*manage, "db", "sync"],  # cell1, and cell0 through its mapping
    ]
    env = service_env(cloud)
    for argv in steps:
        run(argv, cloud.log("nova-db"), cwd=cloud.dir, env=env)
    for database in NOVA_DATABASES:
        use_wal(cloud.dir / f"{database}.sqlite")


def relocate_cells(cloud: Cloud, old_folder: str) -> None:
    """The cell mappings hold cell databases' paths and the RabbitMQ URL: move them."""
    db = sqlite3.connect(cloud.dir / "nova_api.sqlite")
    try:
        db.execute("UPDATE cell_mappings SET database_connection = "
                   "replace(database_connection, ?, ?)", (old_folder, str(cloud.dir)))
        db.execute("UPDATE cell_mappings SET transport_url = ? WHERE transport_url != 'none:///'",
                   (cloud.transport_url,))
        db.commit()
    finally:
        db.close()


# --- processes ----------------------------------------------------------------------------------

def start_rabbitmq(cloud: Cloud, supervisor: Supervisor) -> None:
    """A RabbitMQ node of this run's own: its own epmd (started first, in the foreground, so
    that Erlang does not leave a daemon of its own behind), ports and data folder."""
    folder = cloud.dir / "rabbitmq"
    folder.mkdir(exist_ok=True)
    (folder / "enabled_plugins").write_text("[].\n")
    (folder / "rabbitmq.conf").write_text(
        f"listeners.tcp.1 = {LOOPBACK}:{cloud.ports['rabbitmq']}\n")
    (folder / "rabbitmq-env.conf").write_text("")  # not the machine's /etc/rabbitmq one
    env = {"PATH": "/usr/lib/rabbitmq/bin:/usr/sbin:/usr/bin:/bin", "HOME": str(folder),
           "LANG": "C.UTF-8", "ERL_EPMD_ADDRESS": LOOPBACK,
           "ERL_EPMD_PORT": str(cloud.ports["epmd"]),
           "RABBITMQ_NODENAME": f"ocx-real-{cloud.name}@localhost",
           "RABBITMQ_DIST_PORT": str(cloud.ports["rabbitmq-dist"]),
           "RABBITMQ_CONF_ENV_FILE": str(folder / "rabbitmq-env.conf"),
           "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
           "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
           "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
           "RABBITMQ_LOG_BASE": str(folder / "log"),
           "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}"}
    epmd = supervisor.start(f"{cloud.id} epmd", ["epmd", "-port", str(cloud.ports["epmd"]),
                                                 "-address", LOOPBACK],
                            cloud.log("epmd"), cwd=folder, env=env,
                            url=f"tcp://{LOOPBACK}:{cloud.ports['epmd']}")
    supervisor.wait_ready([epmd], timeout=30)
    supervisor.start(f"{cloud.id} rabbitmq", ["rabbitmq-server"], cloud.log("rabbitmq"),
                     cwd=folder, env=env, url=f"tcp://{LOOPBACK}:{cloud.ports['rabbitmq']}")


def start_placement(cloud: Cloud, supervisor: Supervisor) -> None:
    argv, env = gunicorn(cloud, "placement", "placement.wsgi.api",
                         OS_PLACEMENT_CONFIG_DIR=str(cloud.dir))
    supervisor.start(f"{cloud.id} placement", argv, cloud.log("placement"), cwd=cloud.dir,
                     env=env, url=cloud.base("placement") + "/")


def start_control(cloud: Cloud, supervisor: Supervisor) -> None:
    """Nova's API, conductor and scheduler (they wait for RabbitMQ by themselves, not for
    their user in Keystone). The conductor counts as started once it reported in: a compute
    service that finds no conductor waits ten seconds before it asks again."""
    since = datetime.now(timezone.utc).replace(tzinfo=None)
    # All three write to the cell database: see runners/site/sitecustomize.py.
    argv, env = gunicorn(cloud, "nova", "nova.wsgi.osapi_compute",
                         OS_NOVA_CONFIG_DIR=str(cloud.dir),
                         OS_NOVA_CONFIG_FILES="api-paste.ini;nova.conf",
                         OCX_REAL_SQLITE_IMMEDIATE="1")
    supervisor.start(f"{cloud.id} nova-api", argv, cloud.log("nova-api"), cwd=cloud.dir,
                     env=env, url=cloud.base("nova") + "/")
    for binary in ("nova-conductor", "nova-scheduler"):
        env = service_env(cloud, OCX_REAL_SQLITE_IMMEDIATE="1")
        supervisor.start(f"{cloud.id} {binary}",
                         [cloud.bin(binary), "--config-file", str(cloud.dir / "nova.conf")],
                         cloud.log(binary), cwd=cloud.dir, env=env,
                         ready=(lambda b=binary: reported_since(cloud, b, since)))


def start_compute(cloud: Cloud, supervisor: Supervisor) -> None:
    """nova-compute, once Placement and Keystone (with Nova's user) answer: a compute service
    that misses Placement at its start only tries again a minute later. It waits for the
    conductor by itself."""
    since = datetime.now(timezone.utc).replace(tzinfo=None)
    supervisor.start(f"{cloud.id} nova-compute",
                     [cloud.bin("nova-compute"), "--config-file", str(cloud.dir / "nova.conf")],
                     cloud.log("nova-compute"), cwd=cloud.dir, env=service_env(cloud),
                     ready=lambda: reported_since(cloud, "nova-compute", since)
                     and host_mapped(cloud))


def reported_since(cloud: Cloud, binary: str, since: datetime) -> bool:
    """The service told the cell database it is up (report_interval) after `since`."""
    try:
        db = sqlite3.connect(f"file:{cloud.dir / 'nova.sqlite'}?mode=ro", uri=True)
        try:
            reported = db.execute(
                "SELECT max(coalesce(updated_at, created_at)) FROM services "
                "WHERE binary = ? AND deleted = 0", (binary,)).fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return False
    return reported is not None and datetime.fromisoformat(str(reported)) >= since


def host_mapped(cloud: Cloud) -> bool:
    """The compute host is mapped to cell1 (the scheduler's periodic discovery): only then
    can a server be scheduled to it."""
    try:
        db = sqlite3.connect(f"file:{cloud.dir / 'nova_api.sqlite'}?mode=ro", uri=True)
        try:
            return bool(db.execute("SELECT count(*) FROM host_mappings WHERE host = ?",
                                   (COMPUTE_HOST,)).fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return False


def create_flavor(cloud: Cloud) -> str:
    """A small flavor for test servers (the fake driver has room for many)."""
    admin = Admin(cloud)
    body = {"flavor": {**FLAVOR, "id": "auto"}}
    resp = admin.session.post(cloud.base("nova") + "/v2.1/flavors", json=body)
    return resp.json()["flavor"]["id"]
