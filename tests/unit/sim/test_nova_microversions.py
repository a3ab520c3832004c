"""How the simulated Nova reads and answers microversion headers."""
from __future__ import annotations

import pytest
from multidict import CIMultiDict

from ocx.sim.errors import SimError
from ocx.sim.nova import (
    MAX_VERSION,
    MIN_VERSION,
    Version,
    requested_version,
    version_headers,
)


def asked(**headers: str) -> Version:
    return requested_version(CIMultiDict({k.replace("_", "-"): v for k, v in headers.items()}))


def test_no_header_means_the_minimum():
    assert asked() == MIN_VERSION == Version(2, 1)


def test_the_new_header_names_the_service_and_wins_over_the_legacy_one():
    assert asked(OpenStack_API_Version="compute 2.60") == Version(2, 60)
    assert asked(OpenStack_API_Version="volume 3.5, compute 2.47") == Version(2, 47)
    assert asked(OpenStack_API_Version="compute 2.60",
                 X_OpenStack_Nova_API_Version="2.10") == Version(2, 60)
    assert asked(OpenStack_API_Version="volume 3.5",
                 X_OpenStack_Nova_API_Version="2.10") == Version(2, 10)


def test_latest_is_the_maximum_and_versions_compare_as_numbers():
    assert asked(OpenStack_API_Version="compute latest") == MAX_VERSION == Version(2, 103)
    assert Version(2, 10) > Version(2, 9)
    assert str(Version(2, 100)) == "2.100"


def test_out_of_range_is_406_and_garbage_is_400():
    with pytest.raises(SimError) as too_new:
        asked(OpenStack_API_Version="compute 2.104")
    assert too_new.value.status == 406
    assert too_new.value.message == ("Version 2.104 is not supported by the API. Minimum is "
                                     "2.1 and maximum is 2.103.")
    with pytest.raises(SimError) as too_old:
        asked(X_OpenStack_Nova_API_Version="2.0")
    assert too_old.value.status == 406
    for garbage in ("2", "2.01", "two", "2.1.1", "02.1"):
        with pytest.raises(SimError) as bad:
            asked(OpenStack_API_Version=f"compute {garbage}")
        assert bad.value.status == 400
        assert bad.value.message == (f"API Version String {garbage} is of invalid format. "
                                     "Must be of format MajorNum.MinorNum.")


def test_answers_carry_both_headers_and_vary_on_each_in_a_header_of_its_own():
    assert list(version_headers(Version(2, 53)).items()) == [
        ("OpenStack-API-Version", "compute 2.53"), ("X-OpenStack-Nova-API-Version", "2.53"),
        ("Vary", "OpenStack-API-Version"), ("Vary", "X-OpenStack-Nova-API-Version")]
