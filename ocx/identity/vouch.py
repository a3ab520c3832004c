"""A home service's token at a K2K provider: OCX vouches for the service with a token of its own.

A service of the home cloud (its Nova) sends its own token in ``X-Service-Token`` next to the
user's; some calls are allowed only then (Cinder deletes an attachment in use only when a
service asks, bug 2004555). That token is the home Keystone's and means nothing to a provider,
which would refuse the whole call for it. When the home Keystone finds it valid and holding a
service role, OCX sends the provider its own service user's token there instead (a K2K
exchange, kept like any caller's): what that token may do is what the provider's operator
mapped OCX's user to. Anything else sends no service token on.
"""
from __future__ import annotations

import logging

from .errors import (IdentityUnavailable, K2KFailed, NoRemoteProject, NotInjected,
                     Unauthenticated)

log = logging.getLogger(__name__)

# The role keystonemiddleware's services take a service token for by default
# (Cinder's ``[keystone_authtoken] service_token_roles``).
SERVICE_ROLES = frozenset({"service"})


def vouches_for(roles: frozenset[str], service_roles: frozenset[str] = SERVICE_ROLES) -> bool:
    """A token with ``roles`` is a service's token."""
    return bool(roles & service_roles)


class ServiceVoucher:
    """``token_at(service_token, provider)`` → the service token to send ``provider``, or None.

    ``validator``: identify.validate.TokenValidator (checks the service's token, and gives
    OCX's own); ``mapper``: identity.tokens.TokenMapper (OCX's own token at the provider).
    """

    def __init__(self, validator, mapper, *, home: str,
                 service_roles: frozenset[str] = SERVICE_ROLES) -> None:
        self.validator = validator
        self.mapper = mapper
        self.home = home
        self.service_roles = service_roles

    async def token_at(self, service_token: str | None, provider: str) -> str | None:
        if not service_token or provider == self.home:
            return None  # the home cloud takes the service's own token as it is
        try:
            service = await self.validator.identify(service_token)
        except Unauthenticated:
            return None
        if not vouches_for(service.roles, self.service_roles):
            return None
        try:
            own = await self.validator.identify(await self.validator.service_token())
            return (await self.mapper.credentials(own, provider)).token
        except NotInjected:
            return None  # a provider reached only with a peer's mappings: not OCX's to vouch
        except (K2KFailed, NoRemoteProject, IdentityUnavailable, Unauthenticated) as exc:
            log.warning("no service token of OCX's own at %s: %s", provider, exc)
            return None
