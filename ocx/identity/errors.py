"""What can go wrong with a caller's identity, in words safe to hand back to the client.

No message here ever holds a token, a password or a key: a message is built by OCX from what it
knows (a status, a stage, a provider), never copied from a Keystone answer that may echo one.
"""
from __future__ import annotations


class IdentityError(Exception):
    """Base of the identity errors."""


class Unauthenticated(IdentityError):
    """The caller's token is missing, malformed, unknown, expired or revoked (HTTP 401)."""

    def __init__(self, message: str = "The request you have made requires authentication."
                 ) -> None:
        super().__init__(message)
        self.message = message


class IdentityUnavailable(IdentityError):
    """The home Keystone cannot answer: unreachable, timing out, failing, or refusing OCX itself.

    Not the caller's fault, so never cached: the next call asks again.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class K2KFailed(IdentityError):
    """No token of ``provider`` could be had for the caller through K2K."""

    def __init__(self, provider: str, reason: str) -> None:
        super().__init__(f"{provider}: {reason}")
        self.provider = provider
        self.reason = reason


class NoRemoteProject(IdentityError):
    """The project rule found no single remote project for the caller's local project."""

    def __init__(self, message: str, candidates: int) -> None:
        super().__init__(message)
        self.candidates = candidates


class NoRemoteProjectAt(K2KFailed, NoRemoteProject):
    """A K2K exchange with ``provider`` found no single remote project for the caller's
    project: a failed exchange, and ``candidates`` says why (0: the provider holds nothing of
    the project, which ``identity.usage`` records)."""

    def __init__(self, provider: str, reason: str, candidates: int) -> None:
        Exception.__init__(self, f"{provider}: {reason}")
        self.provider = provider
        self.reason = reason
        self.candidates = candidates


class NotInjected(K2KFailed):
    """``provider`` is reached only with token mappings a peer injected, and there is none
    for the caller's token: the call cannot go there (no K2K exchange is possible)."""

    def __init__(self, provider: str) -> None:
        super().__init__(provider, "it is reached only with mappings a peer OCX injected, "
                                   "and none was injected for this token")
