"""Which providers' notifications OCX listens to: those with a notifications_url."""
from __future__ import annotations

import pytest

from ocx import config
from ocx.learn.listener import Settings, sources


def load(tmp_path, text: str):
    path = tmp_path / "ocx.conf"
    path.write_text(text)
    return config.load(str(path))


def test_home_and_each_provider_with_a_url(tmp_path):
    conf = load(tmp_path, "[DEFAULT]\nproviders = sp1, sp2\n\n"
                          "[keystone]\nnotifications_url = rabbit://u:pw@mq.home:5672/\n\n"
                          "[provider:sp1]\nnotifications_url = rabbit://u:pw@mq.sp1/sp1\n\n"
                          "[provider:sp2]\nsp_id = sp-two\n\n"
                          "[provider:sp3]\nnotifications_url = rabbit://u:pw@mq.sp3/\n\n"
                          "[notifications]\nqueue = ocx-east\nretention = 3600\n")
    found = {s.provider: s.brokers[0].shown() for s in sources(conf, "home")}
    # sp3 is not in providers (it may be discovered at the home Keystone): still listened to.
    assert found == {"home": "mq.home:5672/", "sp1": "mq.sp1:5672/sp1", "sp3": "mq.sp3:5672/"}
    settings = Settings.from_conf(conf)
    assert (settings.queue, settings.retention) == ("ocx-east", 3600.0)
    assert settings.exchanges == ("nova", "cinder", "glance", "neutron", "openstack")


def test_a_bad_url_names_its_section_not_its_password(tmp_path):
    conf = load(tmp_path, "[DEFAULT]\nproviders = sp1\n\n"
                          "[provider:sp1]\nnotifications_url = https://u:hunter2@mq/\n")
    with pytest.raises(ValueError, match=r"\[provider:sp1\] notifications_url") as raised:
        sources(conf, "home")
    assert "hunter2" not in str(raised.value)


def test_none_configured(tmp_path):
    assert sources(load(tmp_path, "[DEFAULT]\nproviders = sp1\n"), "home") == []


def test_ocx_listen_without_any_url_says_so(tmp_path, capsys):
    from ocx.cli import main

    (tmp_path / "ocx.conf").write_text("[DEFAULT]\nproviders = sp1\n")
    assert main(["listen", "--config", str(tmp_path / "ocx.conf")]) == 2
    assert "no notifications_url" in capsys.readouterr().err
