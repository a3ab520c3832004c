"""K2K: a home caller gets a project-scoped token of a service provider (``bu``, ``nu``).

One SAML assertion per exchange, however many callers ask at once; the remote project chosen
by the project rule; a dead or unknown service provider a prompt, clear failure.
"""
from __future__ import annotations

import asyncio
import logging

import pytest

from ocx.identity.errors import K2KFailed, Unauthenticated
from ocx.identity.k2k import K2KExchanger, ProjectRule

from .conftest import on_sim, user_token


@pytest.fixture(scope="module", autouse=True)
def projects(sim):
    """bu gets a second project federated users may use; idp a project bu has no twin of."""
    bu, idp = sim.cloud("bu").keystone, sim.cloud("idp").keystone

    def setup():
        research = bu.create_project("research")
        bu.assign_role("group", bu.find_group("federated_users"), research,
                       bu.role_id("member"))
        lab = idp.create_project("lab")
        idp.assign_role("user", idp.find_user("demo"), lab, idp.role_id("member"))

    on_sim(sim, setup)


@pytest.fixture
def assertions(sim, monkeypatch) -> list[str]:
    """The service providers the home Keystone signed SAML assertions for, in order."""
    federation = sim.cloud("idp").keystone.federation
    signed: list[str] = []
    original = federation._assertion_for

    def counting(body):
        response, sp = original(body)
        signed.append(sp["id"])
        return response, sp

    monkeypatch.setattr(federation, "_assertion_for", counting)
    return signed


@pytest.fixture
def exchanger(sim) -> K2KExchanger:
    return K2KExchanger(sim.cloud("idp").keystone.endpoint, timeout=5.0)


@pytest.fixture
async def caller(sim, make_validator):
    return await make_validator().identify(await user_token(sim))


def volume_url(catalog: list) -> str:
    for entry in catalog:
        if entry["type"] in ("block-storage", "volumev3"):
            return next(e["url"] for e in entry["endpoints"] if e["interface"] == "public")
    raise AssertionError("no block storage in the catalog")


async def test_a_bu_token_from_k2k_works_on_bus_cinder(sim, exchanger, caller, http,
                                                       assertions):
    remote = await exchanger.exchange(caller, "bu", ProjectRule())
    bu = sim.cloud("bu").keystone
    assert (remote.project_name, remote.project_id) == ("demo", bu.project_id("demo"))
    assert remote.auth_url == bu.endpoint
    assert remote.token != caller.token and remote.token not in repr(remote)
    async with http.get(f"{volume_url(remote.catalog)}/volumes",
                        headers={"X-Auth-Token": remote.token}) as response:
        assert response.status == 200
        assert "volumes" in await response.json()
    assert assertions == ["bu"]                    # one SAML exchange, not two


async def test_the_same_named_project_is_chosen_among_several(sim, exchanger, caller):
    remote = await exchanger.exchange(caller, "bu", ProjectRule())
    assert remote.project_name == "demo"           # although "research" is open to it too


@pytest.mark.parametrize("by", ["name", "id"])
async def test_the_project_map_chooses_the_remote_project(sim, exchanger, caller, by):
    local = caller.project_name if by == "name" else caller.project_id
    remote = await exchanger.exchange(caller, "bu", ProjectRule({local: "research"}))
    assert (remote.project_name, remote.project_id) == (
        "research", sim.cloud("bu").keystone.project_id("research"))


async def test_a_bare_project_map_serves_as_the_rule(sim, exchanger, caller):
    remote = await exchanger.exchange(caller, "bu", {"demo": "research"})
    assert remote.project_name == "research"


async def test_a_project_with_no_remote_twin_fails_naming_the_candidates(
        sim, exchanger, make_validator):
    lab = await make_validator().identify(await user_token(sim, project="lab"))
    with pytest.raises(K2KFailed) as err:
        await exchanger.exchange(lab, "bu", ProjectRule())
    assert err.value.provider == "bu" and "2 projects" in err.value.reason
    assert lab.token not in str(err.value)
    remote = await exchanger.exchange(lab, "bu", ProjectRule({"lab": "research"}))
    assert remote.project_name == "research"


async def test_the_only_project_is_chosen_whatever_its_name(sim, exchanger, make_validator):
    lab = await make_validator().identify(await user_token(sim, project="lab"))
    remote = await exchanger.exchange(lab, "nu", ProjectRule())   # nu offers only "demo"
    assert remote.project_name == "demo"


async def test_ten_concurrent_exchanges_make_one(sim, exchanger, caller, assertions):
    results = await asyncio.gather(*(exchanger.exchange(caller, "bu", ProjectRule())
                                     for _ in range(10)))
    assert len({r.token for r in results}) == 1
    assert assertions == ["bu"]


async def test_each_service_provider_gets_its_own_exchange(sim, exchanger, caller, assertions):
    bu, nu = await asyncio.gather(exchanger.exchange(caller, "bu"),
                                  exchanger.exchange(caller, "nu"))
    assert sorted(assertions) == ["bu", "nu"]
    assert bu.auth_url == sim.cloud("bu").keystone.endpoint
    assert nu.auth_url == sim.cloud("nu").keystone.endpoint


async def test_a_dead_service_provider_fails_the_exchange_promptly(sim, exchanger, caller):
    sim.call(sim.cloud("bu").set_down("keystone", True))
    try:
        async with asyncio.timeout(30):            # a guard against a hang, not a timing
            with pytest.raises(K2KFailed) as err:
                await exchanger.exchange(caller, "bu")
    finally:
        sim.call(sim.cloud("bu").set_down("keystone", False))
    assert err.value.provider == "bu" and "unreachable" in err.value.reason
    assert caller.token not in str(err.value)


async def test_an_unknown_service_provider_is_a_clear_failure(sim, exchanger, caller):
    with pytest.raises(K2KFailed, match="not an enabled K2K service provider"):
        await exchanger.exchange(caller, "mars")


async def test_a_revoked_home_token_cannot_be_exchanged(sim, exchanger, make_validator):
    caller = await make_validator().identify(await user_token(sim))
    tokens = sim.cloud("idp").tokens
    on_sim(sim, lambda: tokens.revoke(tokens.validate(caller.token)))
    # The home Keystone refuses the caller's own token: the caller must log in again (a 401
    # to it), not a failure of the provider.
    with pytest.raises(Unauthenticated) as err:
        await exchanger.exchange(caller, "bu")
    assert caller.token not in str(err.value)


async def test_debug_logging_never_shows_a_token(sim, exchanger, caller, caplog):
    # openstacksdk, once imported, quiets keystoneauth's loggers: turn them all up again.
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, "keystoneauth"), \
            caplog.at_level(logging.DEBUG, "keystoneauth.session"):
        await exchanger.exchange(caller, "bu")
    # What OCX's side logged (the simulated clouds share the process and log their own).
    ours = [r for r in caplog.records
            if r.name.startswith(("keystoneauth", "urllib3", "requests", "ocx.identity"))]
    assert any(r.name.startswith("keystoneauth") for r in ours)
    text = "\n".join(r.getMessage() for r in ours)
    # No token of any cloud (the sim's look like Fernet tokens), no SAML assertion.
    assert "gAAAAA" not in text and "urn:oasis:names:tc:SAML" not in text
