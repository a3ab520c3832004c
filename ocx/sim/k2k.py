"""Keystone-to-Keystone federation of a simulated Keystone: the IdP side and the SP side.

IdP side (the home cloud): service providers (``/v3/OS-FEDERATION/service_providers``), listed in
every token as ``service_providers``; ``POST /v3/auth/OS-FEDERATION/saml2/ecp`` turns a
project-scoped token into a signed SAML2 assertion in an ECP envelope for one of them.

SP side (the remote cloud): identity providers, their ``saml2`` protocol and the mappings
(``/v3/OS-FEDERATION/identity_providers``, ``/mappings``). What Shibboleth does in front of a real
Keystone happens at ``ecp_url``: the assertion is verified (:mod:`ocx.sim.saml`) and a session
cookie is set. ``.../identity_providers/{idp}/protocols/saml2/auth`` then maps the session's
attributes with Keystone's rule engine and issues an unscoped federated token, which the client
rescopes with the token method like any other.

keystoneauth1's ``Keystone2Keystone`` plugin drives the whole exchange unmodified.
"""
from __future__ import annotations

import ast
import datetime as dt
import hashlib
import re
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from . import saml
from .auth import TOKEN, Token, public
from .errors import (
    SimError,
    bad_request,
    conflict,
    forbidden,
    not_found,
    read_keystone_json,
)
from .wire import json_response, utcnow

if TYPE_CHECKING:
    from .keystone import KeystoneService

PROTOCOL = "saml2"
# Shibboleth puts the asserting IdP's entity id here; Keystone's [saml2] remote_id_attribute.
REMOTE_ID_ATTRIBUTE = "Shib-Identity-Provider"
FEDERATED_GROUP = "federated_users"
UNAUTHENTICATED = "The request you have made requires authentication."
SESSION_COOKIE = "_shibsession_"


# -- the mapping rule engine (Keystone's RuleProcessor, the part K2K needs) ----------------------


class MappingError(Exception):
    """A mapping that cannot be stored, or cannot map an assertion; ``status`` as Keystone's."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


_REMOTE_KEYS = {"type", "any_one_of", "not_any_of", "regex", "blacklist", "whitelist"}
_LOCAL_KEYS = {"user", "group", "groups", "group_ids", "domain"}
_USER_KEYS = {"id", "name", "email", "domain", "type"}


def _unexpected(found: Iterable[str], allowed: set[str]) -> str | None:
    extra = sorted(set(found) - allowed)
    if not extra:
        return None
    listed = ", ".join(repr(k) for k in extra)
    verb = "were" if len(extra) > 1 else "was"
    return f"Additional properties are not allowed ({listed} {verb} unexpected)"


def _domain_problem(domain: Any) -> str | None:
    if not isinstance(domain, dict) or not domain or _unexpected(domain, {"id", "name"}):
        return f"{domain!r} is not a valid domain reference ({{'id': ...}} or {{'name': ...}})"
    return None


def _local_problem(local: Any) -> str | None:
    if not isinstance(local, dict):
        return f"{local!r} is not of type 'object'"
    problem = _unexpected(local, _LOCAL_KEYS)
    if problem:
        return problem
    user = local.get("user")
    if user is not None:
        if not isinstance(user, dict):
            return f"{user!r} is not of type 'object'"
        problem = _unexpected(user, _USER_KEYS)
        if problem:
            return problem
        if user.get("type", "ephemeral") not in ("ephemeral", "local"):
            return f"{user['type']!r} is not one of ['ephemeral', 'local']"
        if "domain" in user and _domain_problem(user["domain"]):
            return _domain_problem(user["domain"])
    group = local.get("group")
    if group is not None:
        by_id = isinstance(group, dict) and set(group) == {"id"}
        by_name = isinstance(group, dict) and set(group) == {"name", "domain"}
        if not (by_id or by_name) or (by_name and _domain_problem(group["domain"])):
            return f"{group!r} is not valid under any of the given schemas"
    for key in ("groups", "group_ids"):
        if key in local and not isinstance(local[key], str):
            return f"{local[key]!r} is not of type 'string'"
    return None


def _remote_problem(remote: Any) -> str | None:
    if not isinstance(remote, dict) or not isinstance(remote.get("type"), str):
        return f"{remote!r} is not valid under any of the given schemas"
    problem = _unexpected(remote, _REMOTE_KEYS)
    if problem:
        return problem
    lists = [k for k in ("any_one_of", "not_any_of", "blacklist", "whitelist") if k in remote]
    if len(lists) > 1 or any(not isinstance(remote[k], list) for k in lists):
        return f"{remote!r} is not valid under any of the given schemas"
    if "regex" in remote and (not isinstance(remote["regex"], bool)
                              or not set(lists) & {"any_one_of", "not_any_of"}):
        return f"{remote!r} is not valid under any of the given schemas"
    return None


def _rule_problem(rule: Any) -> str | None:
    if not isinstance(rule, dict):
        return f"{rule!r} is not of type 'object'"
    for key in ("local", "remote"):
        if key not in rule:
            return f"'{key}' is a required property"
    problem = _unexpected(rule, {"local", "remote"})
    if problem:
        return problem
    if not isinstance(rule["local"], list):
        return f"{rule['local']!r} is not of type 'array'"
    if not isinstance(rule["remote"], list) or not rule["remote"]:
        return f"{rule['remote']!r} is too short"
    return next(filter(None, [*map(_local_problem, rule["local"]),
                              *map(_remote_problem, rule["remote"])]), None)


def validate_mapping(ref: Any) -> list[dict]:
    """The rules of a mapping body, or :class:`MappingError` with jsonschema-like messages.

    Like Keystone's schema, top-level keys other than ``rules`` (``id``...) are let through.
    """
    if not isinstance(ref, dict) or "rules" not in ref:
        raise MappingError("'rules' is a required property")
    rules = ref["rules"]
    if not isinstance(rules, list):
        raise MappingError(f"{rules!r} is not of type 'array'")
    if not rules:
        raise MappingError("[] is too short")
    problem = next(filter(None, map(_rule_problem, rules)), None)
    if problem:
        raise MappingError(problem)
    return rules


def _matches(requirement: dict, values: list[str]) -> bool:
    wanted = requirement.get("any_one_of", requirement.get("not_any_of"))
    if requirement.get("regex"):
        hit = any(re.search(pattern, value) for pattern in wanted for value in values)
    else:
        hit = bool(set(wanted) & set(values))
    return hit if "any_one_of" in requirement else not hit


def _direct_maps(requirements: list[dict], assertion: Mapping[str, list[str]]
                 ) -> list[list[str]] | None:
    """The values a rule captures for ``{0}``, ``{1}``...; None if the rule does not apply."""
    captured: list[list[str]] = []
    for requirement in requirements:
        values = assertion.get(requirement["type"])
        if not values:
            return None
        if "any_one_of" in requirement or "not_any_of" in requirement:
            if not _matches(requirement, values):
                return None
            continue
        if "blacklist" in requirement:
            values = [v for v in values if v not in requirement["blacklist"]]
        elif "whitelist" in requirement:
            values = [v for v in values if v in requirement["whitelist"]]
        captured.append(values)
    return captured


def _substitute(local: Any, captured: list[list[str]], mapping_id: str) -> Any:
    """Replace ``{0}``... in a local section; one value stands alone, several as a list."""
    if isinstance(local, dict):
        return {k: _substitute(v, captured, mapping_id) for k, v in local.items()}
    if isinstance(local, list):
        return [_substitute(v, captured, mapping_id) for v in local]
    if not isinstance(local, str):
        return local
    values = [v[0] if len(v) == 1 else v for v in captured]
    try:
        return local.format(*values)
    except (IndexError, KeyError, ValueError):
        raise MappingError(f"Local section in mapping {mapping_id} refers to a remote match "
                           f"that doesn't exist (e.g. {{0}} in a local section).", status=500)


def _as_list(text: str) -> list[str]:
    """A substituted ``groups`` value: a single name, or a list rendered as a string."""
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return [text]
    return [str(p) for p in parsed] if isinstance(parsed, (list, tuple)) else [text]


@dataclass(frozen=True)
class MappedIdentity:
    """What the rules make of an assertion: the user, groups by id and groups by name."""

    user: dict
    group_ids: tuple[str, ...]
    group_names: tuple[dict, ...]


def apply_mapping(mapping_id: str, rules: list[dict],
                  environment: Mapping[str, str]) -> MappedIdentity:
    """Keystone's rule processing over the attributes a SAML SP put in the environment.

    Multiple values of one attribute arrive joined by ``;`` (as Shibboleth passes them).
    """
    assertion = {name: value.split(";") for name, value in environment.items()
                 if isinstance(value, str)}
    identity_values: list[dict] = []
    for rule in rules:
        captured = _direct_maps(rule["remote"], assertion)
        if captured is None:
            continue
        identity_values += [_substitute(local, captured, mapping_id) for local in rule["local"]]
    if not identity_values:
        raise MappingError("Could not map any federated user properties to identity values. "
                           "Check debug logs or the mapping used for additional details.")
    user: dict = {}
    group_ids: list[str] = []
    group_names: list[dict] = []
    for value in identity_values:
        if "user" in value and not user:
            user = dict(value["user"])
        group = value.get("group")
        if group and "id" in group:
            group_ids.append(group["id"])
        elif group:
            group_names.append(group)
        if "groups" in value:
            if "domain" not in value:
                raise MappingError(f"Invalid rule: {value}. Both 'groups' and 'domain' keywords "
                                   f"must be specified.")
            group_names += [{"name": n, "domain": value["domain"]}
                            for n in _as_list(value["groups"])]
        if "group_ids" in value:
            group_ids += _as_list(value["group_ids"])
    user.setdefault("type", "ephemeral")
    return MappedIdentity(user=user, group_ids=tuple(dict.fromkeys(group_ids)),
                          group_names=tuple(group_names))


# -- request helpers -----------------------------------------------------------------------------


def _member(body: dict, key: str, *, required: Iterable[str] = (),
            allowed: Mapping[str, tuple[type, ...]], at_least_one: bool = False) -> dict:
    """Keystone's schema check of one resource body (``{"service_provider": {...}}``)."""
    ref = body.get(key)
    if not isinstance(ref, dict):
        raise bad_request(f"Invalid input for field '{key}': {ref!r} is not of type 'object'")
    problem = _unexpected(ref, set(allowed))
    if problem:
        raise bad_request(f"Invalid input for field '{key}': {problem}")
    for name in sorted(required):
        if name not in ref:
            raise bad_request(f"Invalid input for field '{key}': '{name}' is a required "
                              f"property")
    if at_least_one and not ref:
        raise bad_request(f"Invalid input for field '{key}': {{}} does not have enough "
                          f"properties")
    for name, value in ref.items():
        if not isinstance(value, allowed[name]):
            kinds = " or ".join(sorted({_JSON_TYPES[t] for t in allowed[name]}))
            raise bad_request(f"Invalid input for field '{key}/{name}': {value!r} is not of "
                              f"type '{kinds}'")
    return ref


_JSON_TYPES = {str: "string", bool: "boolean", type(None): "null", list: "array", int: "integer"}
_URL = re.compile(r"^[a-zA-Z0-9+.-]+:.+")  # Keystone's parameter_types.url


def _check_urls(ref: dict, key: str) -> None:
    for name in ("auth_url", "sp_url"):
        if name in ref and not _URL.match(ref[name]):
            raise bad_request(f"Invalid input for field '{key}/{name}': {ref[name]!r} does not "
                              f"match '^[a-zA-Z0-9+.-]+:.+'")


def _require_admin(request: web.Request, action: str) -> Token:
    token: Token = request[TOKEN]
    if not token.is_admin:
        raise forbidden(f"You are not authorized to perform the requested action: "
                        f"identity:{action}.")
    return token


def _filtered(items: Iterable[dict], query: Mapping[str, str]) -> list[dict]:
    items = list(items)
    if "id" in query:
        items = [i for i in items if i["id"] == query["id"]]
    if "enabled" in query:
        wanted = query["enabled"].lower() not in ("false", "0", "no", "off")
        items = [i for i in items if bool(i.get("enabled")) == wanted]
    return items


@dataclass(frozen=True)
class _Session:
    """What Shibboleth keeps after consuming an assertion: attributes and their source."""

    environment: Mapping[str, str]
    expires_at: dt.datetime


# -- the federation of one Keystone --------------------------------------------------------------


class Federation:
    """The OS-FEDERATION parts of one simulated Keystone, as IdP and as SP."""

    def __init__(self, keystone: KeystoneService) -> None:
        self.keystone = keystone
        # IdP side
        self.service_providers: dict[str, dict] = {}
        self.assertions: Counter[str] = Counter()   # assertions issued, by service provider id
        # SP side: Keystone's records, and what Shibboleth trusts (entity id → certificate)
        self.identity_providers: dict[str, dict] = {}
        self.protocols: dict[tuple[str, str], dict] = {}
        self.mappings: dict[str, dict] = {}
        self.idp_metadata: dict[str, str] = {}
        self._sessions: dict[str, _Session] = {}
        self._replay = saml.ReplayGuard()
        self._shadow_users: dict[tuple[str, str, str], str] = {}

    def forget_sessions(self) -> None:
        """Shibboleth's sessions gone (its daemon restarted with Keystone)."""
        self._sessions.clear()

    @property
    def base_url(self) -> str:
        return self.keystone.base_url

    def routes(self) -> list[web.AbstractRouteDef]:
        r = web
        fed = "/v3/OS-FEDERATION"
        sp, idp = f"{fed}/service_providers", f"{fed}/identity_providers"
        protocol = idp + "/{idp_id}/protocols/{protocol_id}"
        return [
            r.post("/v3/auth/OS-FEDERATION/saml2/ecp", self.post_ecp_assertion),
            r.post("/v3/auth/OS-FEDERATION/saml2", self.post_saml2_assertion),
            r.get(f"{fed}/saml2/metadata", self.get_metadata),
            r.get(sp, self.list_service_providers),
            r.get(sp + "/{sp_id}", self.get_service_provider),
            r.put(sp + "/{sp_id}", self.put_service_provider),
            r.patch(sp + "/{sp_id}", self.patch_service_provider),
            r.delete(sp + "/{sp_id}", self.delete_service_provider),
            r.get(idp, self.list_identity_providers),
            r.get(idp + "/{idp_id}", self.get_identity_provider),
            r.put(idp + "/{idp_id}", self.put_identity_provider),
            r.patch(idp + "/{idp_id}", self.patch_identity_provider),
            r.delete(idp + "/{idp_id}", self.delete_identity_provider),
            r.get(idp + "/{idp_id}/protocols", self.list_protocols),
            r.get(protocol, self.get_protocol),
            r.put(protocol, self.put_protocol),
            r.patch(protocol, self.patch_protocol),
            r.delete(protocol, self.delete_protocol),
            r.get(protocol + "/auth", self.federated_auth),
            r.post(protocol + "/auth", self.federated_auth),
            r.get(f"{fed}/mappings", self.list_mappings),
            r.get(f"{fed}/mappings/{{mapping_id}}", self.get_mapping),
            r.put(f"{fed}/mappings/{{mapping_id}}", self.put_mapping),
            r.patch(f"{fed}/mappings/{{mapping_id}}", self.patch_mapping),
            r.delete(f"{fed}/mappings/{{mapping_id}}", self.delete_mapping),
            r.post("/Shibboleth.sso/SAML2/ECP", self.consume_assertion),
        ]

    # == IdP side ================================================================================

    @property
    def entity_id(self) -> str:
        """Keystone's ``[saml] idp_entity_id``."""
        return f"{self.base_url}/v3/OS-FEDERATION/saml2/idp"

    @cached_property
    def signing_identity(self) -> saml.SigningIdentity:
        """The IdP's key and certificate (``[saml] keyfile/certfile``), made on first use."""
        return saml.make_signing_identity(f"{self.keystone.cloud.name} keystone idp")

    @property
    def signing_cert_pem(self) -> str:
        return self.signing_identity.cert_pem

    def add_service_provider(self, sp_id: str, auth_url: str, sp_url: str, *,
                             description: str | None = None, enabled: bool = True,
                             relay_state_prefix: str = saml.RELAY_STATE_PREFIX) -> dict:
        self.service_providers[sp_id] = {
            "id": sp_id, "auth_url": auth_url, "sp_url": sp_url, "description": description,
            "enabled": enabled, "relay_state_prefix": relay_state_prefix}
        return self.service_providers[sp_id]

    def service_providers_for_token(self) -> list[dict]:
        """The ``service_providers`` of a token body: the enabled SPs."""
        return [{"id": sp["id"], "auth_url": sp["auth_url"], "sp_url": sp["sp_url"]}
                for sp in self.service_providers.values() if sp["enabled"]]

    def _sp_view(self, sp: dict) -> dict:
        return {**sp, "links": {"self": f"{self.base_url}/v3/OS-FEDERATION/service_providers/"
                                        f"{sp['id']}"}}

    def _sp(self, sp_id: str) -> dict:
        sp = self.service_providers.get(sp_id)
        if sp is None:
            raise not_found(f"Could not find Service Provider: {sp_id}.")
        return sp

    # assertions

    def _saml_request(self, body: dict) -> tuple[str, str]:
        """Keystone's ``saml_create`` schema: the token id and the service provider id."""
        auth = body.get("auth")
        if not isinstance(auth, dict):
            raise bad_request(f"Invalid input for field 'auth': {auth!r} is not of type "
                              f"'object'")
        for key in ("identity", "scope"):
            if key not in auth:
                raise bad_request(f"Invalid input for field 'auth': '{key}' is a required "
                                  f"property")
        problem = _unexpected(auth, {"identity", "scope"})
        if problem:
            raise bad_request(f"Invalid input for field 'auth': {problem}")
        identity = _member(auth, "identity", required={"token"},
                           allowed={"token": (dict,), "methods": (list,)})
        token = _member(identity, "token", required={"id"}, allowed={"id": (str,)})
        scope = _member(auth, "scope", required={"service_provider"},
                        allowed={"service_provider": (dict,)})
        sp = _member(scope, "service_provider", required={"id"}, allowed={"id": (str,)})
        return token["id"], sp["id"]

    def _assertion_for(self, body: dict) -> tuple[bytes, dict]:
        """Keystone's ``create_base_saml_assertion``: the signed response and the SP."""
        token_id, sp_id = self._saml_request(body)
        sp = self._sp(sp_id)
        if sp["enabled"] is not True:
            raise forbidden(f"Service Provider {sp_id} is disabled")
        token = self.keystone.tokens.validate(token_id)
        if token is None:
            raise SimError(401, UNAUTHENTICATED)
        if not token.project_id:
            raise forbidden("You are not authorized to perform the requested action: Use a "
                            "project scoped token when attempting to create a SAML assertion.")
        response = saml.build_response(self._claims(token), issuer=self.entity_id,
                                       recipient=sp["sp_url"], audience=sp["sp_url"],
                                       identity=self.signing_identity)
        self.assertions[sp_id] += 1
        return response, sp

    def _claims(self, token: Token) -> saml.Claims:
        ks = self.keystone
        groups = []
        for gid in sorted(g for g, u in ks.group_members if u == token.user_id):
            group = ks.groups.get(gid)
            if group:
                domain = ks.domains[group["domain_id"]]["name"]
                groups.append("JSON:" + orjson.dumps(
                    {"name": group["name"], "domain": {"name": domain}}).decode())
        return saml.Claims(
            user=token.user_name, user_domain=ks.domains[token.user_domain_id]["name"],
            roles=tuple(name for _, name in token.roles), project=token.project_name,
            project_domain=ks.domains[token.project_domain_id]["name"], groups=tuple(groups))

    @staticmethod
    def _xml_response(document: bytes, sp: dict) -> web.Response:
        return web.Response(body=document, status=200, headers={
            "Content-Type": "text/xml", "X-sp-url": sp["sp_url"], "X-auth-url": sp["auth_url"]})

    @public
    async def post_ecp_assertion(self, request: web.Request) -> web.Response:
        response, sp = self._assertion_for(await read_keystone_json(request))
        envelope = saml.ecp_envelope(response, relay_state_prefix=sp["relay_state_prefix"] or "",
                                     consumer_url=sp["sp_url"])
        return self._xml_response(envelope, sp)

    @public
    async def post_saml2_assertion(self, request: web.Request) -> web.Response:
        response, sp = self._assertion_for(await read_keystone_json(request))
        return self._xml_response(response, sp)

    @public
    async def get_metadata(self, request: web.Request) -> web.Response:
        """The IdP metadata an SP is configured with: entity id and signing certificate."""
        document = saml.idp_metadata(self.entity_id, self.signing_cert_pem,
                                     sso_url=f"{self.base_url}/v3/OS-FEDERATION/saml2/sso")
        return web.Response(body=document, content_type="text/xml")

    # service providers (admin)

    async def list_service_providers(self, request: web.Request) -> web.Response:
        _require_admin(request, "list_service_providers")
        items = _filtered(self.service_providers.values(), request.query)
        return self._collection("service_providers", [self._sp_view(s) for s in items], request)

    async def get_service_provider(self, request: web.Request) -> web.Response:
        _require_admin(request, "get_service_provider")
        return json_response({"service_provider": self._sp_view(
            self._sp(request.match_info["sp_id"]))})

    _SP_FIELDS = {"auth_url": (str,), "sp_url": (str,), "description": (str, type(None)),
                  "enabled": (bool,), "relay_state_prefix": (str, type(None))}

    async def put_service_provider(self, request: web.Request) -> web.Response:
        _require_admin(request, "create_service_provider")
        sp_id = request.match_info["sp_id"]
        ref = _member(await read_keystone_json(request), "service_provider",
                      required={"auth_url", "sp_url"}, allowed=self._SP_FIELDS)
        _check_urls(ref, "service_provider")
        if sp_id in self.service_providers:
            raise conflict(f"Conflict occurred attempting to store service_provider - "
                           f"Duplicate ID, {sp_id}.")
        sp = self.add_service_provider(
            sp_id, ref["auth_url"], ref["sp_url"], description=ref.get("description"),
            enabled=ref.get("enabled", False),
            relay_state_prefix=ref.get("relay_state_prefix", saml.RELAY_STATE_PREFIX))
        return json_response({"service_provider": self._sp_view(sp)}, status=201)

    async def patch_service_provider(self, request: web.Request) -> web.Response:
        _require_admin(request, "update_service_provider")
        sp = self._sp(request.match_info["sp_id"])
        ref = _member(await read_keystone_json(request), "service_provider", allowed=self._SP_FIELDS,
                      at_least_one=True)
        _check_urls(ref, "service_provider")
        sp.update(ref)
        return json_response({"service_provider": self._sp_view(sp)})

    async def delete_service_provider(self, request: web.Request) -> web.Response:
        _require_admin(request, "delete_service_provider")
        self._sp(request.match_info["sp_id"])
        del self.service_providers[request.match_info["sp_id"]]
        return web.Response(status=204)

    def _collection(self, key: str, items: list[dict], request: web.Request) -> web.Response:
        return json_response({key: items, "links": {"self": f"{self.base_url}{request.path_qs}",
                                                    "previous": None, "next": None}})

    # == SP side =================================================================================

    @property
    def ecp_url(self) -> str:
        """Where the IdP's ECP assertion is presented (Shibboleth's ECP endpoint)."""
        return f"{self.base_url}/Shibboleth.sso/SAML2/ECP"

    def federation_auth_url(self, idp_id: str, protocol: str = PROTOCOL) -> str:
        return (f"{self.base_url}/v3/OS-FEDERATION/identity_providers/{idp_id}/protocols/"
                f"{protocol}/auth")

    def trust_identity_provider(self, idp_id: str, remote_id: str, certificate: str) -> dict:
        """Set this Keystone up as an SP of a K2K identity provider, as an operator would.

        The IdP's users arrive as ephemeral users in the IdP's domain, in the group
        ``federated_users`` that holds the ``member`` role on the project ``demo``.
        """
        ks = self.keystone
        group_id = ks.create_group(FEDERATED_GROUP, description="Users of federated clouds")
        ks.assign_role("group", group_id, ks.project_id("demo"), ks.role_id("member"))
        mapping_id = f"{idp_id}_mapping"
        self.create_mapping(mapping_id, [{
            "local": [{"user": {"name": "{0}", "type": "ephemeral"}},
                      {"group": {"id": group_id}}],
            "remote": [{"type": "openstack_user"},
                       {"type": REMOTE_ID_ATTRIBUTE, "any_one_of": [remote_id]}],
        }])
        idp = self.create_identity_provider(idp_id, remote_ids=[remote_id], enabled=True,
                                            description=f"K2K identity provider {idp_id}")
        self.create_protocol(idp_id, PROTOCOL, mapping_id)
        self.idp_metadata[remote_id] = certificate
        return idp

    def create_identity_provider(self, idp_id: str, *, remote_ids: list[str] | None = None,
                                 enabled: bool = False, description: str | None = None,
                                 domain_id: str | None = None) -> dict:
        taken = {r for i in self.identity_providers.values() for r in i["remote_ids"]}
        clash = sorted(set(remote_ids or ()) & taken)
        if clash:
            raise conflict(f"Conflict occurred attempting to store identity_provider - "
                           f"Duplicate remote ID: {clash[0]}.")
        self.identity_providers[idp_id] = {
            "id": idp_id, "enabled": enabled, "description": description,
            "remote_ids": list(remote_ids or []), "authorization_ttl": None,
            "domain_id": domain_id or self._create_idp_domain(idp_id)}
        return self.identity_providers[idp_id]

    def _create_idp_domain(self, idp_id: str) -> str:
        """Keystone gives an IdP without a domain one of its own for its shadow users."""
        domain_id = secrets.token_hex(16)
        self.keystone.domains[domain_id] = {
            "id": domain_id, "name": idp_id, "enabled": True, "tags": [], "options": {},
            "description": f"Auto generated federated domain for Identity Provider: {idp_id}"}
        return domain_id

    def create_protocol(self, idp_id: str, protocol_id: str, mapping_id: str) -> dict:
        self._idp(idp_id)
        self._mapping(mapping_id)
        self.protocols[(idp_id, protocol_id)] = {"id": protocol_id, "mapping_id": mapping_id,
                                                 "remote_id_attribute": None}
        return self.protocols[(idp_id, protocol_id)]

    def create_mapping(self, mapping_id: str, rules: list[dict]) -> dict:
        self.mappings[mapping_id] = {"id": mapping_id, "rules": validate_mapping(
            {"rules": rules}), "schema_version": "1.0"}
        return self.mappings[mapping_id]

    def _idp(self, idp_id: str) -> dict:
        idp = self.identity_providers.get(idp_id)
        if idp is None:
            raise not_found(f"Could not find Identity Provider: {idp_id}.")
        return idp

    def _protocol(self, idp_id: str, protocol_id: str) -> dict:
        self._idp(idp_id)
        protocol = self.protocols.get((idp_id, protocol_id))
        if protocol is None:
            raise not_found(f"Could not find federated protocol {protocol_id} for Identity "
                            f"Provider: {idp_id}.")
        return protocol

    def _mapping(self, mapping_id: str) -> dict:
        mapping = self.mappings.get(mapping_id)
        if mapping is None:
            raise not_found(f"Could not find Mapping: {mapping_id}.")
        return mapping

    # Shibboleth: consume the assertion, keep a session

    def _session_cookie(self) -> str:
        return SESSION_COOKIE + hashlib.sha256(self.ecp_url.encode()).hexdigest()[:32]

    @public
    async def consume_assertion(self, request: web.Request) -> web.Response:
        """Verify the ECP envelope, open a session, send the client on to the protected URL."""
        document = await request.read()
        try:
            verified = saml.verify_response(document, trusted=self.idp_metadata,
                                            audience=self.ecp_url, recipient=self.ecp_url)
            self._replay.use(verified)
        except saml.AssertionRejected as exc:
            raise SimError(401, f"The SAML assertion was refused ({exc.reason}): {exc}") from None
        now = utcnow()
        self._sessions = {k: s for k, s in self._sessions.items() if s.expires_at > now}
        environment = {name: ";".join(values) for name, values in verified.attributes.items()}
        environment[REMOTE_ID_ATTRIBUTE] = verified.issuer
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = _Session(environment, verified.not_on_or_after)
        idp_id = next((i["id"] for i in self.identity_providers.values()
                       if verified.issuer in i["remote_ids"]), None)
        target = self.federation_auth_url(idp_id) if idp_id else self.base_url + "/v3"
        response = web.Response(status=302, headers={"Location": target})
        response.set_cookie(self._session_cookie(), session_id, path="/", httponly=True)
        return response

    def _session(self, request: web.Request) -> _Session:
        session = self._sessions.get(request.cookies.get(self._session_cookie(), ""))
        if session is None or session.expires_at <= utcnow():
            raise SimError(401, UNAUTHENTICATED)
        return session

    # Keystone: the federated login

    @public
    async def federated_auth(self, request: web.Request) -> web.Response:
        idp_id, protocol_id = request.match_info["idp_id"], request.match_info["protocol_id"]
        session = self._session(request)
        idp = self._idp(idp_id)
        if idp["enabled"] is not True:
            raise forbidden(f"Identity Provider {idp_id} is disabled")
        protocol = self._protocol(idp_id, protocol_id)
        remote_id = session.environment.get(REMOTE_ID_ATTRIBUTE)
        if idp["remote_ids"] and remote_id not in idp["remote_ids"]:
            raise forbidden("Incoming identity provider identifier not included among the "
                            "accepted identifiers.")
        mapping = self._mapping(protocol["mapping_id"])
        try:
            mapped = apply_mapping(mapping["id"], mapping["rules"], session.environment)
        except MappingError as exc:
            raise SimError(exc.status, str(exc)) from None
        group_ids = self._group_ids(mapped, mapping["id"])
        user_id = self._shadow_user(idp, protocol_id, mapped)
        token = self.keystone.issue_token(user_id, [protocol_id], federation={
            "identity_provider": {"id": idp_id}, "protocol": {"id": protocol_id},
            "groups": [{"id": gid} for gid in group_ids]})
        return json_response(self.keystone.token_body(token), status=201,
                             headers={"X-Subject-Token": token.id})

    def _group_ids(self, mapped: MappedIdentity, mapping_id: str) -> list[str]:
        ks = self.keystone
        for gid in mapped.group_ids:
            if gid not in ks.groups:
                raise bad_request(f"Group {gid} returned by mapping {mapping_id} was not found "
                                  f"in the backend.")
        ids = list(mapped.group_ids)
        for group in mapped.group_names:
            domain = group.get("domain") or {}
            domain_id = domain.get("id") or next(
                (d for d, ref in ks.domains.items() if ref["name"] == domain.get("name")), None)
            gid = ks.find_group(group.get("name"), domain_id) if domain_id else None
            if gid:  # Keystone skips a named group it does not know
                ids.append(gid)
        return list(dict.fromkeys(ids))

    def _shadow_user(self, idp: dict, protocol_id: str, mapped: MappedIdentity) -> str:
        """The local shadow of a federated user, made on first login (ephemeral users)."""
        ks = self.keystone
        user = mapped.user
        name = user.get("name") or user.get("id")
        if not name:
            raise SimError(401, "Could not map user while setting ephemeral user identity. "
                                "Either mapping.local.user.name or mapping.local.user.id must be "
                                "set.")
        if user["type"] == "local":
            domain_id = self._user_domain(user.get("domain") or {"id": "default"})
            local_id = ks.find_user(name, domain_id)
            if local_id is None:
                raise SimError(401, f"Could not find user: {name}.")
            return local_id
        key = (idp["id"], protocol_id, user.get("id") or name)
        known = self._shadow_users.get(key)
        if known in ks.users:
            return known
        domain_id = self._user_domain(user["domain"]) if "domain" in user else idp["domain_id"]
        # A name already taken in the domain is a conflict, never a merge with that user.
        user_id = ks.create_user(name, None, domain_id, federated={
            "idp_id": idp["id"], "protocols": [{"protocol_id": protocol_id,
                                                "unique_id": key[2]}]})
        self._shadow_users[key] = user_id
        return user_id

    def _user_domain(self, ref: dict) -> str:
        ks = self.keystone
        domain_id = ref.get("id") or next(
            (d for d, dom in ks.domains.items() if dom["name"] == ref.get("name")), None)
        if domain_id not in ks.domains:
            raise SimError(401, f"Could not find domain: {ref.get('id') or ref.get('name')}.")
        return domain_id

    # identity providers, protocols, mappings (admin)

    def _idp_view(self, idp: dict) -> dict:
        base = f"{self.base_url}/v3/OS-FEDERATION/identity_providers/{idp['id']}"
        return {**idp, "links": {"self": base, "protocols": base + "/protocols"}}

    _IDP_FIELDS = {"enabled": (bool,), "description": (str, type(None)),
                   "remote_ids": (list, type(None)), "authorization_ttl": (int, type(None))}

    async def list_identity_providers(self, request: web.Request) -> web.Response:
        _require_admin(request, "list_identity_providers")
        items = _filtered(self.identity_providers.values(), request.query)
        return self._collection("identity_providers", [self._idp_view(i) for i in items],
                                request)

    async def get_identity_provider(self, request: web.Request) -> web.Response:
        _require_admin(request, "get_identity_provider")
        return json_response({"identity_provider": self._idp_view(
            self._idp(request.match_info["idp_id"]))})

    async def put_identity_provider(self, request: web.Request) -> web.Response:
        _require_admin(request, "create_identity_provider")
        idp_id = request.match_info["idp_id"]
        ref = _member(await read_keystone_json(request), "identity_provider",
                      allowed={**self._IDP_FIELDS, "domain_id": (str, type(None))})
        if idp_id in self.identity_providers:
            raise conflict(f"Conflict occurred attempting to store identity_provider - "
                           f"Duplicate ID, {idp_id}.")
        if ref.get("domain_id") and ref["domain_id"] not in self.keystone.domains:
            raise not_found(f"Could not find domain: {ref['domain_id']}.")
        idp = self.create_identity_provider(
            idp_id, remote_ids=ref.get("remote_ids"), enabled=ref.get("enabled", False),
            description=ref.get("description"), domain_id=ref.get("domain_id"))
        if ref.get("authorization_ttl") is not None:
            idp["authorization_ttl"] = ref["authorization_ttl"]
        return json_response({"identity_provider": self._idp_view(idp)}, status=201)

    async def patch_identity_provider(self, request: web.Request) -> web.Response:
        _require_admin(request, "update_identity_provider")
        idp = self._idp(request.match_info["idp_id"])
        ref = _member(await read_keystone_json(request), "identity_provider",
                      allowed=self._IDP_FIELDS, at_least_one=True)
        if "remote_ids" in ref:
            ref["remote_ids"] = list(ref["remote_ids"] or [])
        idp.update(ref)
        return json_response({"identity_provider": self._idp_view(idp)})

    async def delete_identity_provider(self, request: web.Request) -> web.Response:
        _require_admin(request, "delete_identity_provider")
        idp_id = request.match_info["idp_id"]
        self._idp(idp_id)
        del self.identity_providers[idp_id]
        for key in [k for k in self.protocols if k[0] == idp_id]:
            del self.protocols[key]
        return web.Response(status=204)

    def _protocol_view(self, idp_id: str, protocol: dict) -> dict:
        base = f"{self.base_url}/v3/OS-FEDERATION/identity_providers/{idp_id}"
        return {**protocol, "idp_id": idp_id,
                "links": {"self": f"{base}/protocols/{protocol['id']}",
                          "identity_provider": base}}

    def _protocol_short(self, idp_id: str, protocol: dict) -> dict:
        """A single protocol: Keystone leaves out ``idp_id`` (and a null remote id attribute)."""
        view = self._protocol_view(idp_id, protocol)
        return {k: v for k, v in view.items()
                if k != "idp_id" and not (k == "remote_id_attribute" and v is None)}

    async def list_protocols(self, request: web.Request) -> web.Response:
        _require_admin(request, "list_protocols")
        idp_id = request.match_info["idp_id"]
        self._idp(idp_id)
        items = [self._protocol_view(idp_id, p) for (i, _), p in self.protocols.items()
                 if i == idp_id]
        return self._collection("protocols", items, request)

    async def get_protocol(self, request: web.Request) -> web.Response:
        _require_admin(request, "get_protocol")
        m = request.match_info
        return json_response({"protocol": self._protocol_short(
            m["idp_id"], self._protocol(m["idp_id"], m["protocol_id"]))})

    async def put_protocol(self, request: web.Request) -> web.Response:
        _require_admin(request, "create_protocol")
        m = request.match_info
        ref = _member(await read_keystone_json(request), "protocol", required={"mapping_id"},
                      allowed={"mapping_id": (str,), "remote_id_attribute": (str, type(None))})
        self._idp(m["idp_id"])
        if (m["idp_id"], m["protocol_id"]) in self.protocols:
            raise conflict(f"Conflict occurred attempting to store protocol - Duplicate ID, "
                           f"{m['protocol_id']}.")
        protocol = self.create_protocol(m["idp_id"], m["protocol_id"], ref["mapping_id"])
        protocol["remote_id_attribute"] = ref.get("remote_id_attribute")
        return json_response({"protocol": self._protocol_short(m["idp_id"], protocol)},
                             status=201)

    async def patch_protocol(self, request: web.Request) -> web.Response:
        _require_admin(request, "update_protocol")
        m = request.match_info
        protocol = self._protocol(m["idp_id"], m["protocol_id"])
        ref = _member(await read_keystone_json(request), "protocol", required={"mapping_id"},
                      allowed={"mapping_id": (str,), "remote_id_attribute": (str,)})
        self._mapping(ref["mapping_id"])
        protocol.update(ref)
        return json_response({"protocol": self._protocol_short(m["idp_id"], protocol)})

    async def delete_protocol(self, request: web.Request) -> web.Response:
        _require_admin(request, "delete_protocol")
        m = request.match_info
        self._protocol(m["idp_id"], m["protocol_id"])
        del self.protocols[(m["idp_id"], m["protocol_id"])]
        return web.Response(status=204)

    def _mapping_view(self, mapping: dict) -> dict:
        return {**mapping, "links": {
            "self": f"{self.base_url}/v3/OS-FEDERATION/mappings/{mapping['id']}"}}

    async def list_mappings(self, request: web.Request) -> web.Response:
        _require_admin(request, "list_mappings")
        return self._collection("mappings",
                                [self._mapping_view(m) for m in self.mappings.values()], request)

    async def get_mapping(self, request: web.Request) -> web.Response:
        _require_admin(request, "get_mapping")
        return json_response({"mapping": self._mapping_view(
            self._mapping(request.match_info["mapping_id"]))})

    async def _mapping_rules(self, request: web.Request) -> list[dict]:
        body = await read_keystone_json(request)
        ref = body.get("mapping")
        try:
            return validate_mapping(ref)
        except MappingError as exc:
            raise bad_request(str(exc)) from None

    async def put_mapping(self, request: web.Request) -> web.Response:
        _require_admin(request, "create_mapping")
        mapping_id = request.match_info["mapping_id"]
        rules = await self._mapping_rules(request)
        if mapping_id in self.mappings:
            raise conflict(f"Conflict occurred attempting to store mapping - Duplicate ID, "
                           f"{mapping_id}.")
        return json_response({"mapping": self._mapping_view(
            self.create_mapping(mapping_id, rules))}, status=201)

    async def patch_mapping(self, request: web.Request) -> web.Response:
        _require_admin(request, "update_mapping")
        mapping = self._mapping(request.match_info["mapping_id"])
        mapping["rules"] = await self._mapping_rules(request)
        return json_response({"mapping": self._mapping_view(mapping)})

    async def delete_mapping(self, request: web.Request) -> web.Response:
        _require_admin(request, "delete_mapping")
        mapping_id = request.match_info["mapping_id"]
        self._mapping(mapping_id)
        del self.mappings[mapping_id]
        return web.Response(status=204)
