"""The configuration: options in the OpenStack style, and a sample that says them all."""
from __future__ import annotations

import os
import subprocess
import sys

from ocx import config

HERE = os.path.dirname(__file__)
SAMPLE = os.path.join(HERE, "..", "..", "..", "etc", "ocx.conf.sample")


def test_the_sample_in_etc_is_what_the_option_definitions_generate(tmp_path):
    out = tmp_path / "sample"
    generator = os.path.join(os.path.dirname(sys.executable), "oslo-config-generator")
    subprocess.run([generator, "--namespace", "ocx", "--wrap-width", "79", "--output-file",
                    str(out)], check=True, capture_output=True)
    with open(SAMPLE) as f:
        assert out.read_text() == f.read(), "run `make etc/ocx.conf.sample`"


def test_providers_and_their_sections(tmp_path):
    path = tmp_path / "ocx.conf"
    path.write_text("[DEFAULT]\nproviders = sp1, sp2\npublic_url = https://ocx.example/\n"
                    "[keystone]\nauth_url = http://127.0.0.1:5000/v3\n"
                    "[provider:sp2]\nsp_id = bu\nproject_map = demo:research\n")
    conf = config.load(str(path))
    sp1, sp2 = config.providers(conf)
    assert (sp1.name, sp1.sp_id, sp1.interface) == ("sp1", "sp1", "public")
    assert (sp2.sp_id, sp2.project_map) == ("bu", {"demo": "research"})
    assert config.public_url(conf) == "https://ocx.example"


def test_default_providers_per_service_are_checked(tmp_path):
    import pytest

    path = tmp_path / "ocx.conf"
    path.write_text("[DEFAULT]\nproviders = sp1\ndefault_providers = volume:sp1\n")
    conf = config.load(str(path))
    assert config.default_providers(conf, ["home", "sp1"]) == {"volume": "sp1"}
    path.write_text("[DEFAULT]\nproviders = sp1\ndefault_providers = volume:sp9\n")
    with pytest.raises(ValueError, match="sp9"):
        config.default_providers(config.load(str(path)), ["home", "sp1"])
    path.write_text("[DEFAULT]\ndefault_providers = swift:home\n")
    with pytest.raises(ValueError, match="swift"):
        config.default_providers(config.load(str(path)), ["home"])
