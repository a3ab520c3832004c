"""keystoneauth1 at OCX's edge: sessions that keep secrets out of logs, failures in safe words.

keystoneauth1 logs every request it makes at DEBUG, bodies included; the K2K exchange sends the
caller's token in a body and gets a SAML assertion back. OCX's sessions never log a request, so
turning on debug logging cannot leak either.
"""
from __future__ import annotations

import re

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.plugin import BaseAuthPlugin


class QuietSession(ks_session.Session):
    """A keystoneauth1 session that does not log requests or answers."""

    def request(self, *args, **kwargs):
        kwargs["log"] = False
        return super().request(*args, **kwargs)


def session(timeout: float, auth: BaseAuthPlugin | None = None) -> QuietSession:
    """A session whose every request (connection and answer) is limited to ``timeout`` s.

    A new one for each piece of work that keeps state in it: the SAML exchange leaves a
    session cookie of the service provider in it, which must never serve another caller.
    """
    return QuietSession(auth=auth, timeout=timeout)


def describe(exc: BaseException) -> str:
    """What went wrong, from the kind of failure alone (a message may echo a token)."""
    if isinstance(exc, ks_exc.ConnectTimeout):
        return "did not answer in time"
    if isinstance(exc, ks_exc.SSLError):
        return "failed the TLS handshake"
    if isinstance(exc, ks_exc.ConnectionError):
        return "is unreachable"
    if isinstance(exc, ks_exc.HttpError):
        return f"answered HTTP {exc.http_status}"
    if isinstance(exc, ks_exc.AuthorizationFailure):
        # keystoneauth's own words, "... response exit code: 403, ...": keep only the status.
        status = re.search(r"exit code: (\d+)", str(exc))
        return "refused the SAML assertion request" + (f" (HTTP {status[1]})" if status else "")
    if isinstance(exc, ks_exc.ServiceProviderNotFound):
        return "is not a service provider of the home Keystone"
    if isinstance(exc, (ks_exc.InvalidResponse, ValueError, KeyError)):
        return "gave an answer OCX cannot read"
    return f"failed ({type(exc).__name__})"
