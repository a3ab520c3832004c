"""The services' configuration files, written afresh at every start (ports change)."""
from __future__ import annotations

import configparser
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .layout import LOOPBACK, REGION, Cloud

Sections = dict[str, dict[str, str]]

CLASSIC_POLICY = {"enforce_scope": "false", "enforce_new_defaults": "false"}
# The machine's RabbitMQ (as tests/integration/notifications uses it): B's services send their
# oslo notifications to a virtual host of the run's own there (clouds.py makes it).
RABBITMQ = os.environ.get("OCX_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


def write_ini(path: Path, sections: Sections) -> Path:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keep option names as written
    for name, options in sections.items():
        if name != "DEFAULT":
            parser.add_section(name)
        for key, value in options.items():
            parser.set(name, key, value)
    with open(path, "w") as out:
        parser.write(out)
    return path


def sqlite(cloud: Cloud, database: str) -> str:
    return f"sqlite:///{cloud.dir / (database + '.sqlite')}"


def authtoken(cloud: Cloud, user: str) -> dict[str, str]:
    """[keystone_authtoken] of a service: its own user in the project "service"."""
    return {"www_authenticate_uri": cloud.keystone_url, "auth_url": cloud.keystone_url,
            "auth_type": "password", "username": user, "password": cloud.passwords[user],
            "project_name": "service", "user_domain_name": "Default",
            "project_domain_name": "Default", "region_name": REGION,
            # A service token must come from a user with the role "service".
            "service_token_roles_required": "true",
            # B checks every token at its Keystone (no 5-minute cache): a token revoked
            # there is refused at once, as tests/real/test_landlords.py needs.
            **({"token_cache_time": "-1"} if cloud.is_sp else {})}


def notifications_vhost(cloud: Cloud) -> str:
    """The RabbitMQ virtual host of this run that ``cloud``'s services notify on."""
    return f"ocx-real-{cloud.dir.parent.name}-{cloud.name}"


def notifications_url(cloud: Cloud) -> str:
    parts = urlsplit(RABBITMQ)
    return urlunsplit(("rabbit", parts.netloc, "/" + notifications_vhost(cloud), "", ""))


def notifying(cloud: Cloud) -> Sections:
    """B's Cinder and Glance send oslo notifications (what OCX's listener learns from)."""
    if not cloud.is_sp:
        return {}
    return {"oslo_messaging_notifications": {"driver": "messagingv2",
                                             "transport_url": notifications_url(cloud)}}


def common(cloud: Cloud, service: str) -> Sections:
    # graceful_shutdown_timeout: oslo.service waits 60 s for a stopping service by default.
    return {"DEFAULT": {"debug": "false", "use_stderr": "true",
                        "graceful_shutdown_timeout": "2"},
            "oslo_policy": dict(CLASSIC_POLICY),
            "oslo_concurrency": {"lock_path": str(cloud.dir / "locks" / service)}}


def keystone(cloud: Cloud, saml: dict[str, str] | None) -> Path:
    keys = cloud.dir / "keys"
    sections = common(cloud, "keystone")
    sections.update({
        "database": {"connection": sqlite(cloud, "keystone")},
        "token": {"provider": "fernet"},
        "fernet_tokens": {"key_repository": str(keys / "fernet")},
        "fernet_receipts": {"key_repository": str(keys / "fernet")},
        "credential": {"key_repository": str(keys / "credential")},
        # bcrypt's default cost makes every password check take a quarter of a second.
        "identity": {"password_hash_rounds": "4", "max_password_length": "72"},
    })
    if saml:
        sections["saml"] = saml
    if cloud.is_sp:
        sections["auth"] = {"methods": "password,token,saml2,mapped,application_credential"}
        # mellon's variables reach Keystone as headers through Apache's reverse proxy.
        sections["federation"] = {"remote_id_attribute": "HTTP_X_MELLON_IDP"}
    return write_ini(cloud.dir / "keystone.conf", sections)


def glance(cloud: Cloud) -> Path:
    sections = common(cloud, "glance")
    sections["DEFAULT"].update({
        "bind_host": LOOPBACK, "bind_port": str(cloud.ports["glance"]), "workers": "1",
        "enabled_backends": "fs1:file", "public_endpoint": cloud.base("glance")})
    sections.update({
        "database": {"connection": sqlite(cloud, "glance")},
        "glance_store": {"default_backend": "fs1"},
        "fs1": {"filesystem_store_datadir": str(cloud.dir / "images")},
        "os_glance_staging_store": {"filesystem_store_datadir": str(cloud.dir / "glance-staging")},
        "os_glance_tasks_store": {"filesystem_store_datadir": str(cloud.dir / "glance-tasks")},
        "paste_deploy": {"flavor": "keystone",
                         "config_file": cloud.etc("glance", "glance-api-paste.ini")},
        "keystone_authtoken": authtoken(cloud, "glance"),
        **notifying(cloud),
    })
    return write_ini(cloud.dir / "glance-api.conf", sections)


def cinder(cloud: Cloud) -> Path:
    sections = common(cloud, "cinder")
    sections["DEFAULT"].update({
        "osapi_volume_listen": LOOPBACK, "osapi_volume_listen_port": str(cloud.ports["cinder"]),
        "osapi_volume_workers": "1", "auth_strategy": "keystone", "transport_url": "fake://",
        "host": cloud.id, "my_ip": LOOPBACK, "enabled_backends": "fake",
        "state_path": str(cloud.dir / "cinder"),
        "api_paste_config": cloud.etc("cinder", "api-paste.ini"),
        "resource_query_filters_file": cloud.etc("cinder", "resource_filters.json"),
        # The scheduler waits this long for the volume service's first capability report.
        "scheduler_driver_init_wait_time": "3",
    })
    sections.update({
        "database": {"connection": sqlite(cloud, "cinder")},
        "coordination": {"backend_url": f"file://{cloud.dir / 'cinder' / 'coordination'}"},
        "fake": {"volume_driver": "cinder.tests.fake_driver.FakeLoggingVolumeDriver",
                 "volume_backend_name": "fake", "target_helper": "fake"},
        "keystone_authtoken": authtoken(cloud, "cinder"),
        **notifying(cloud),
    })
    return write_ini(cloud.dir / "cinder.conf", sections)


def neutron(cloud: Cloud) -> tuple[Path, Path]:
    sections = common(cloud, "neutron")
    sections["DEFAULT"].update({
        "core_plugin": "ml2", "service_plugins": "router", "auth_strategy": "keystone",
        "api_paste_config": cloud.etc("neutron", "api-paste.ini"), "transport_url": "fake://",
        "api_workers": "1", "rpc_workers": "0", "rpc_state_report_workers": "0",
        "notify_nova_on_port_status_changes": "false",
        "notify_nova_on_port_data_changes": "false",
        "state_path": str(cloud.dir / "neutron"),
    })
    sections.update({
        "database": {"connection": sqlite(cloud, "neutron")},
        "keystone_authtoken": authtoken(cloud, "neutron"),
    })
    ml2 = {
        # Ports bind without agents only with the "test" mechanism driver.
        # local: the dummy network of Gluon ports (ocx gluon setup, test_gluon.py).
        "ml2": {"type_drivers": "flat,vlan,vxlan,local", "tenant_network_types": "vxlan",
                "mechanism_drivers": "test", "extension_drivers": "port_security"},
        "ml2_type_vxlan": {"vni_ranges": "1:1000"},
    }
    return (write_ini(cloud.dir / "neutron.conf", sections),
            write_ini(cloud.dir / "ml2_conf.ini", ml2))
