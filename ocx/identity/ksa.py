"""keystoneauth1 at OCX's edge: sessions that keep secrets out of logs, failures in safe words.

keystoneauth1 logs every request it makes at DEBUG, bodies included; the K2K exchange sends the
caller's token in a body and gets a SAML assertion back. OCX's sessions never log a request, so
turning on debug logging cannot leak either.
"""
from __future__ import annotations

import contextlib
import http.cookiejar
import re
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.plugin import BaseAuthPlugin
from requests.adapters import HTTPAdapter


class QuietSession(ks_session.Session):
    """A keystoneauth1 session that does not log requests or answers."""

    def request(self, *args, **kwargs):
        kwargs["log"] = False
        return super().request(*args, **kwargs)


def session(timeout: float, auth: BaseAuthPlugin | None = None, *, tls=None) -> QuietSession:
    """A session whose every request (connection and answer) is limited to ``timeout`` s.

    A new one for each piece of work that keeps state in it: the SAML exchange leaves a
    session cookie of the service provider in it, which must never serve another caller.
    ``tls`` (``config.ClientTLS``: ``verify`` and ``cert``): its certificate checks and
    client certificate; None: the system's CAs, no client certificate.
    """
    if tls is None:
        return QuietSession(auth=auth, timeout=timeout)
    return QuietSession(auth=auth, timeout=timeout, verify=tls.verify, cert=tls.cert)


class _OriginTLS(HTTPAdapter):
    """Requests to one origin checked and authenticated with that origin's TLS options,
    whatever the session's are."""

    def __init__(self, tls) -> None:
        super().__init__()
        self.tls = tls

    def send(self, request, **kwargs):
        kwargs["verify"], kwargs["cert"] = self.tls.verify, self.tls.cert
        return super().send(request, **kwargs)


def tls_for(session: QuietSession, url: str, tls) -> None:
    """Requests of ``session`` to ``url``'s origin use ``tls`` (a K2K exchange's session talks
    to the home Keystone and to the service provider's, which may have TLS options of its
    own)."""
    parts = urlsplit(url)
    session.session.mount(f"{parts.scheme}://{parts.netloc}/", _OriginTLS(tls))


class SessionCache:
    """One keystoneauth1 session per Keystone endpoint, kept and reused (its connections stay
    open between K2K exchanges), and made anew when a request through it could not reach the
    endpoint (seed 004: sessions per Keystone, marked and re-established when they go bad).

    For requests that leave no state behind only (a token in a header, never a cookie): its
    sessions take no cookies, so nothing of one caller's can reach another's request.
    Thread-safe: exchanges run in worker threads.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._sessions: dict[str, QuietSession] = {}
        self._lock = threading.Lock()
        self.made = 0                     # sessions made (the first per endpoint, and renewals)

    def get(self, endpoint: str, tls=None) -> QuietSession:
        """The endpoint's session; ``tls`` (``config.ClientTLS``) when one is made."""
        with self._lock:
            kept = self._sessions.get(endpoint)
            if kept is None:
                kept = session(self.timeout, tls=tls)
                kept.session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(
                    allowed_domains=[]))
                self._sessions[endpoint] = kept
                self.made += 1
            return kept

    def discard(self, endpoint: str, bad: QuietSession) -> None:
        """Drop ``bad`` (if it is still the one kept) so that the next request makes anew."""
        with self._lock:
            if self._sessions.get(endpoint) is bad:
                del self._sessions[endpoint]
            else:
                return
        bad.session.close()

    @contextlib.contextmanager
    def using(self, endpoint: str, tls=None) -> Iterator[QuietSession]:
        """The endpoint's session; discarded if a request through it cannot reach it."""
        kept = self.get(endpoint, tls)
        try:
            yield kept
        except (ks_exc.ConnectionError, ks_exc.SSLError):
            self.discard(endpoint, kept)
            raise


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
