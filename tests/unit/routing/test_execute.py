"""Search: when no cloud has the resource, the caller gets a cloud's own answer to its call."""
from __future__ import annotations

import asyncio

import pytest
from multidict import CIMultiDict, MultiDict

from ocx.api.request import parse
from ocx.backends.base import Credentials, Provider, ProviderResponse, ServiceNotOffered
from ocx.routing.execute import Executor, Outcome, SearchFailed

MISSING = "00000000-0000-4000-8000-000000000000"


class Cloud(Provider):
    """A provider that answers every call with ``status`` (or offers no such service)."""

    kind = "fake"

    def __init__(self, name: str, status: int | None) -> None:
        super().__init__(name)
        self.status = status
        self.sent: list[tuple[str, str]] = []

    def root(self, service, credentials):
        return None if self.status is None else f"http://{self.name}"

    async def send(self, session, request, credentials, *, body, timeout, method=None):
        if self.status is None:
            raise ServiceNotOffered(self.name, "offers no compute service")
        self.sent.append((request.method, request.path_for(None)))
        return ProviderResponse(self.name, self.status, CIMultiDict(), f"http://{self.name}",
                                None, body=f"{request.method} at {self.name}".encode())


def search(clouds: dict[str, int | None], method: str, path: str, absent=()):
    providers = {name: Cloud(name, status) for name, status in clouds.items()}
    executor = Executor(None, providers, connect_timeout=1, call_timeout=1)
    credentials = {name: Outcome(name, failure="no project there", absent=True)
                   if name in absent else Credentials("t", None) for name in clouds}
    request = parse(method, path, MultiDict(), CIMultiDict())
    answer = asyncio.run(executor.search(request, credentials, by_arrival=True))
    return answer, providers


def test_a_get_no_cloud_has_is_the_first_clouds_404():
    answer, _ = search({"home": 404, "sp1": 404}, "GET", f"/compute/v2.1/servers/{MISSING}")
    assert (answer.provider, answer.status, answer.body) == ("home", 404, b"GET at home")


def test_any_other_call_is_sent_as_it_is_to_that_cloud_for_its_own_404():
    answer, clouds = search({"home": 404, "sp1": 404}, "POST",
                            f"/compute/v2.1/servers/{MISSING}/action")
    assert (answer.provider, answer.body) == ("home", b"POST at home")
    assert clouds["home"].sent[-1] == ("POST", f"/v2.1/servers/{MISSING}/action")
    assert [m for m, _ in clouds["sp1"].sent] == ["GET"]  # only searched


def test_a_cloud_without_the_service_or_the_callers_project_holds_nothing():
    answer, _ = search({"home": 404, "sp1": None, "sp2": 404}, "GET",
                       f"/compute/v2.1/servers/{MISSING}", absent=("sp2",))
    assert (answer.provider, answer.status) == ("home", 404)


def test_a_cloud_that_answers_with_an_error_leaves_the_search_undecided():
    with pytest.raises(SearchFailed) as failed:
        search({"home": 404, "sp1": 503}, "GET", f"/compute/v2.1/servers/{MISSING}")
    assert not failed.value.not_found
