"""Who calls OCX's own API (``/ocx/v1/...``, ``/metrics``): the caller a token stands for, or
the answer to give instead, in OCX's error form (401 with the Keystone to get a token from, as
keystonemiddleware says it; 503 when the token cannot be validated now; 403 for a caller
without the admin role where one is needed)."""
from __future__ import annotations

from aiohttp import web

from ..identity.errors import IdentityUnavailable, Unauthenticated
from .errors import OcxError

ADMIN_ROLE = "admin"


async def caller_of(validator, request: web.Request):
    """The caller of the request's ``X-Auth-Token``; :class:`OcxError` when there is none."""
    try:
        return await validator.identify(request.headers.get("X-Auth-Token"))
    except Unauthenticated:
        raise OcxError(401, "The request you have made requires authentication.",
                       headers={"WWW-Authenticate": f'Keystone uri="{validator.auth_url}"'}) \
            from None
    except IdentityUnavailable as exc:
        raise OcxError(503, f"The token cannot be validated now: {exc.reason}.") from None


async def admin_of(validator, request: web.Request, refusal: str):
    """The caller, who must hold the admin role (else a 403 saying ``refusal``)."""
    caller = await caller_of(validator, request)
    if ADMIN_ROLE not in caller.roles:
        raise OcxError(403, refusal)
    return caller
