"""How `ocx providers` judges each provider from what the Keystones answered."""
from __future__ import annotations

from ocx.admin.health import (
    DOWN,
    UNKNOWN,
    UP,
    Answer,
    HomeView,
    assess_home,
    assess_service_provider,
    keystone_root,
    offered_services,
)
from ocx.config import ProviderConfig

AUTH_URL = "http://home:5000/v3"
SP1 = ProviderConfig(name="sp1", kind="openstack", sp_id="bu", interface="public",
                     project_map={})
SP1_ENTRY = {"id": "bu", "enabled": True, "sp_url": "http://bu:5000/Shibboleth.sso/SAML2/ECP",
             "auth_url": "http://bu:5000/v3/OS-FEDERATION/identity_providers/home/protocols/"
                         "saml2/auth"}
CATALOG = [
    {"type": "compute", "endpoints": [{"interface": "internal", "url": "http://n:8774/v2.1",
                                       "region_id": "RegionOne"}]},
    {"type": "volumev3", "endpoints": [{"interface": "internal", "url": "http://c:8776/v3",
                                        "region_id": "RegionOne"}]},
    {"type": "image", "endpoints": [{"interface": "public", "url": "http://ocx/image",
                                     "region_id": "RegionOne"}]},
    {"type": "identity", "endpoints": [{"interface": "internal", "url": AUTH_URL,
                                        "region_id": "RegionOne"}]},
]
LISTED = HomeView(Answer(200), CATALOG, service_providers={"bu": SP1_ENTRY})


def test_an_sp_keystone_is_found_under_its_federation_auth_url():
    assert keystone_root(SP1_ENTRY["auth_url"]) == "http://bu:5000/v3"
    assert keystone_root("http://bu/identity/v3") == "http://bu/identity/v3"
    assert keystone_root("http://bu:5000/") == "http://bu:5000/"


def test_home_offers_the_services_its_catalog_has_at_the_interface_ocx_forwards_to():
    assert offered_services(CATALOG, "internal", None) == ("compute", "volume")
    assert offered_services(CATALOG, "internal", "RegionTwo") == ()
    assert offered_services(CATALOG, "public", None) == ("image",)


def test_home_is_up_when_its_keystone_answers_and_says_what_it_offers():
    home = assess_home("home", LISTED, AUTH_URL, "internal", None)
    assert (home.health, home.sp_id, home.services) == (UP, None, ("compute", "volume"))


def test_any_answer_below_500_means_the_keystone_is_there():
    assert Answer(401).answered and Answer(404).answered
    assert not Answer(503).answered and not Answer(failure="is unreachable").answered


def test_home_is_down_when_its_keystone_does_not_answer():
    view = HomeView(Answer(failure="is unreachable"), None, "could not log in",
                    None, "unreachable")
    home = assess_home("home", view, AUTH_URL, "internal", None)
    assert (home.health, home.detail) == (DOWN, "its Keystone is unreachable")
    assert home.shown_services() == "unknown (see detail)"
    broken = assess_home("home", HomeView(Answer(503)), AUTH_URL, "internal", None)
    assert broken.detail == "its Keystone answered HTTP 503"


def test_home_services_are_unknown_when_the_service_user_cannot_log_in():
    view = HomeView(Answer(200), None, "cannot log in (HTTP 401)", None, "")
    home = assess_home("home", view, AUTH_URL, "internal", None)
    assert home.health == UP and home.services is None
    assert "cannot log in (HTTP 401)" in home.detail


def test_a_listed_service_provider_whose_keystone_answers_is_up():
    sp = assess_service_provider(SP1, LISTED, Answer(200))
    assert (sp.health, sp.sp_id, sp.keystone) == (UP, "bu", "http://bu:5000/v3")
    assert sp.services is None and sp.shown_services() == "unknown until a user's call"
    assert sp.record()["services"] is None


def test_a_service_provider_whose_keystone_does_not_answer_is_down():
    sp = assess_service_provider(SP1, LISTED, Answer(failure="did not answer within 5.0 s"))
    assert sp.health == DOWN
    assert sp.detail == "listed by the home Keystone; its Keystone did not answer within 5.0 s"


def test_a_service_provider_the_home_keystone_does_not_list_or_disabled_is_down():
    unknown = assess_service_provider(SP1, HomeView(Answer(200), CATALOG, service_providers={}),
                                      None)
    assert (unknown.health, unknown.detail) == (
        DOWN, "'bu' is not a service provider of the home Keystone")
    disabled = HomeView(Answer(200), CATALOG,
                        service_providers={"bu": dict(SP1_ENTRY, enabled=False)})
    assert assess_service_provider(SP1, disabled, None).detail == "disabled at the home Keystone"


def test_a_service_provider_is_unknown_when_the_home_keystone_cannot_list_them():
    view = HomeView(Answer(200), CATALOG, service_providers=None,
                    listing_failure="OCX's service user may not list them (HTTP 403)")
    sp = assess_service_provider(SP1, view, None)
    assert sp.health == UNKNOWN
    assert sp.detail.endswith("may not list them (HTTP 403)")
