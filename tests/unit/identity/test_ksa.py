"""keystoneauth1 at the edge: failures described without what their messages may echo."""
from __future__ import annotations

from keystoneauth1 import exceptions as ks_exc

from ocx.identity import ksa

SECRET = "gAAAAAsecret-token-value"


def test_failures_are_described_by_kind_never_by_message():
    cases = {
        ks_exc.ConnectFailure(f"refused {SECRET}"): "is unreachable",
        ks_exc.ConnectTimeout(f"slow {SECRET}"): "did not answer in time",
        ks_exc.Unauthorized(f"Could not find token {SECRET}"): "answered HTTP 401",
        ks_exc.ServiceUnavailable(SECRET): "answered HTTP 503",
        ks_exc.AuthorizationFailure(
            "Error while requesting ECP wrapped assertion: response exit code: 403, "
            f"reason: {SECRET}"): "refused the SAML assertion request (HTTP 403)",
    }
    for exc, words in cases.items():
        described = ksa.describe(exc)
        assert described == words and SECRET not in described

