"""The simulator's clouds, from the command line or from its INI file."""
from __future__ import annotations

import pytest

from ocx.sim.config import parse_config
from ocx.sim.exchange import parse_clouds


def test_the_first_cloud_named_is_every_other_clouds_identity_provider():
    idp, bu, nu = parse_clouds("idp,bu=cinder+glance,nu")
    assert idp.idp is None and bu.idp == "idp" and nu.idp == "idp"
    assert bu.services == ("cinder", "glance")
    assert nu.services == ("nova", "cinder", "glance", "neutron")


@pytest.mark.parametrize("text", ["", "a,a", "a=swift", "a b", "a,b=cinder+heat"])
def test_bad_cloud_lists_are_refused(text):
    with pytest.raises(ValueError):
        parse_clouds(text)


def test_a_config_file_names_ports_services_and_settings():
    config = parse_config("""
[sim]
control_port = 8999
notifications = amqp://guest:guest@127.0.0.1:5672/

[cloud idp]
ports = keystone:5000, nova:8774

[cloud bu]
services = cinder, glance
idp = idp
settings = nova.cinder_url=http://127.0.0.1:9000/v3/%(project_id)s
""")
    idp, bu = config.clouds
    assert config.control_port == 8999 and config.notifications.startswith("amqp://")
    assert idp.ports == {"keystone": 5000, "nova": 8774}
    assert bu.idp == "idp" and bu.services == ("cinder", "glance")
    assert bu.settings == {"nova.cinder_url": "http://127.0.0.1:9000/v3/%(project_id)s"}


@pytest.mark.parametrize("text", [
    "[sim]\n",
    "[cloud a]\nservices = swift\n",
    "[cloud a]\nidp = nowhere\n",
    "[cloud a]\nports = keystone\n",
])
def test_bad_config_files_are_refused(text):
    with pytest.raises(ValueError):
        parse_config(text)
