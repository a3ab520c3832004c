"""A simulated Keystone v3: password and token auth, scoping, the catalog, the identity objects.

Tokens are opaque and live in the cloud's :class:`~ocx.sim.auth.TokenRegistry`; every other
service of the cloud validates against it. K2K federation (the IdP's ECP assertions, the SP's
federated login) lives in :mod:`ocx.sim.k2k` and uses this module's tokens and assignments.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable

from aiohttp import web

from .auth import TOKEN, Token, public
from .errors import SimError, forbidden, not_found, read_keystone_json, render_keystone
from .k2k import Federation
from .service import SimService
from .wire import iso_keystone, json_response, utcnow

DEFAULT_DOMAIN = "default"
MEMBER, ADMIN, READER, SERVICE = "member", "admin", "reader", "service"
UNAUTHENTICATED = "The request you have made requires authentication."


def bad_request(message: str) -> SimError:
    return SimError(400, message)


def _hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 1000)


def _ref(body: dict, key: str) -> dict:
    value = body.get(key)
    if not isinstance(value, dict):
        raise bad_request(f"Invalid input for field '{key}': {value!r} is not of type 'object'")
    return value


class KeystoneService(SimService):
    name = "keystone"
    service_type = "identity"
    catalog_path = "/v3"
    render_error = staticmethod(render_keystone)

    def __init__(self, cloud) -> None:
        super().__init__(cloud)
        self.domains: dict[str, dict] = {
            DEFAULT_DOMAIN: {"id": DEFAULT_DOMAIN, "name": "Default", "enabled": True,
                             "description": "The default domain", "tags": [], "options": {}}}
        self.projects: dict[str, dict] = {}
        self.users: dict[str, dict] = {}
        self.groups: dict[str, dict] = {}
        self.group_members: set[tuple[str, str]] = set()   # (group id, user id)
        self.roles: dict[str, dict] = {}
        # (actor type "user" | "group", actor id, project id, role id)
        self.assignments: set[tuple[str, str, str, str]] = set()
        self._passwords: dict[str, tuple[bytes, bytes]] = {}
        self._demo_passwords: dict[str, str] = {}
        self.catalog_services: dict[str, dict] = {}
        self.catalog_endpoints: dict[str, dict] = {}
        self.federation = Federation(self)
        self._bootstrap()

    # -- the identity objects ---------------------------------------------------------------

    def _bootstrap(self) -> None:
        for role in (ADMIN, MEMBER, READER, SERVICE):
            self.create_role(role)
        for project in ("admin", "service", "demo"):
            self.create_project(project)
        for user, project, roles in (("admin", "admin", (ADMIN, MEMBER, READER)),
                                     ("demo", "demo", (MEMBER, READER)),
                                     ("ocx", "service", (ADMIN, SERVICE))):
            password = secrets.token_urlsafe(12)
            self._demo_passwords[user] = password
            uid = self.create_user(user, password, default_project=self.project_id(project))
            for role in roles:
                self.assign_role("user", uid, self.project_id(project), self.role_id(role))

    def create_role(self, name: str) -> str:
        rid = uuid.uuid4().hex
        self.roles[rid] = {"id": rid, "name": name, "domain_id": None, "description": None,
                           "options": {}}
        return rid

    def create_project(self, name: str, domain_id: str = DEFAULT_DOMAIN,
                       description: str = "", enabled: bool = True) -> str:
        if self.find_project(name, domain_id):
            raise SimError(409, f"Conflict occurred attempting to store project - it is not "
                                f"permitted to have two projects with the same name in the same "
                                f"domain : {name}.")
        pid = uuid.uuid4().hex
        self.projects[pid] = {"id": pid, "name": name, "domain_id": domain_id,
                              "description": description, "enabled": enabled,
                              "parent_id": domain_id, "is_domain": False, "tags": [],
                              "options": {}}
        return pid

    def create_user(self, name: str, password: str | None, domain_id: str = DEFAULT_DOMAIN,
                    default_project: str | None = None, federated: dict | None = None) -> str:
        if self.find_user(name, domain_id):
            raise SimError(409, f"Conflict occurred attempting to store user - Duplicate entry "
                                f"found with name {name} at domain ID {domain_id}.")
        uid = uuid.uuid4().hex
        self.users[uid] = {"id": uid, "name": name, "domain_id": domain_id, "enabled": True,
                           "password_expires_at": None, "options": {},
                           **({"default_project_id": default_project} if default_project else {}),
                           **({"federated": [federated]} if federated else {})}
        if password is not None:
            self.set_password(uid, password)
        return uid

    def set_password(self, user_id: str, password: str) -> None:
        salt = secrets.token_bytes(16)
        self._passwords[user_id] = (salt, _hash_password(password, salt))

    def create_group(self, name: str, domain_id: str = DEFAULT_DOMAIN,
                     description: str = "") -> str:
        existing = self.find_group(name, domain_id)
        if existing:
            return existing
        gid = uuid.uuid4().hex
        self.groups[gid] = {"id": gid, "name": name, "domain_id": domain_id,
                            "description": description}
        return gid

    def assign_role(self, actor_type: str, actor_id: str, project_id: str, role_id: str) -> None:
        self.assignments.add((actor_type, actor_id, project_id, role_id))

    def _find(self, table: dict[str, dict], name: str, domain_id: str | None) -> str | None:
        for oid, obj in table.items():
            if obj["name"] == name and (domain_id is None or obj.get("domain_id") == domain_id):
                return oid
        return None

    def find_project(self, name: str, domain_id: str | None = DEFAULT_DOMAIN) -> str | None:
        return self._find(self.projects, name, domain_id)

    def find_user(self, name: str, domain_id: str | None = DEFAULT_DOMAIN) -> str | None:
        return self._find(self.users, name, domain_id)

    def find_group(self, name: str, domain_id: str | None = DEFAULT_DOMAIN) -> str | None:
        return self._find(self.groups, name, domain_id)

    def project_id(self, name: str) -> str:
        return self.find_project(name)

    def role_id(self, name: str) -> str:
        return self._find(self.roles, name, None)

    def domain_id_for(self, ref: dict) -> str:
        """A ``{"id": ...}`` or ``{"name": ...}`` domain reference → the domain id."""
        if "id" in ref:
            if ref["id"] not in self.domains:
                raise SimError(401, UNAUTHENTICATED)
            return ref["id"]
        for did, domain in self.domains.items():
            if domain["name"] == ref.get("name"):
                return did
        raise SimError(401, UNAUTHENTICATED)

    def effective_roles(self, user_id: str, project_id: str,
                        extra_groups: Iterable[str] = ()) -> list[tuple[str, str]]:
        """Roles of a user on a project: direct, through its groups, through token groups."""
        groups = {g for g, u in self.group_members if u == user_id} | set(extra_groups)
        role_ids = {r for kind, actor, p, r in self.assignments
                    if p == project_id and ((kind == "user" and actor == user_id)
                                            or (kind == "group" and actor in groups))}
        return sorted((rid, self.roles[rid]["name"]) for rid in role_ids if rid in self.roles)

    def projects_of(self, user_id: str, extra_groups: Iterable[str] = ()) -> list[dict]:
        extra = list(extra_groups)
        return [p for pid, p in self.projects.items()
                if p["enabled"] and self.effective_roles(user_id, pid, extra)]

    def demo_credentials(self) -> dict[str, dict[str, str]]:
        """The generated passwords of the bootstrap users, for the demo and the tests."""
        projects = {"admin": "admin", "demo": "demo", "ocx": "service"}
        return {user: {"password": pw, "project": projects[user]}
                for user, pw in self._demo_passwords.items()}

    async def restart(self) -> int:
        """A restart of a Keystone that keeps its tokens in memory: its socket closed (open
        connections dropped) and reopened on the same port, every token and federation
        session forgotten. The other services of the cloud then refuse every token issued
        before; how many were forgotten."""
        await self.cloud.set_down(self.name, True)
        try:
            forgotten = self.tokens.forget_all()
            self.federation.forget_sessions()
        finally:
            await self.cloud.set_down(self.name, False)
        return forgotten

    # -- the catalog ------------------------------------------------------------------------

    async def on_start(self) -> None:
        """Register every service of the cloud, now that their ports are known."""
        for service in self.cloud.services.values():
            for stype in (service.service_type, *service.catalog_aliases):
                sid = self.add_catalog_service(stype, service.name)
                url = service.endpoint.replace("%(project_id)s", "$(project_id)s")
                for interface in ("public", "internal", "admin"):
                    self.add_catalog_endpoint(sid, interface, url, self.cloud.spec.region)

    def add_catalog_service(self, stype: str, name: str, description: str = "",
                            enabled: bool = True) -> str:
        sid = uuid.uuid4().hex
        self.catalog_services[sid] = {"id": sid, "type": stype, "name": name,
                                      "description": description, "enabled": enabled}
        return sid

    def add_catalog_endpoint(self, service_id: str, interface: str, url: str,
                             region_id: str | None, enabled: bool = True) -> str:
        eid = uuid.uuid4().hex
        self.catalog_endpoints[eid] = {"id": eid, "service_id": service_id,
                                       "interface": interface, "url": url,
                                       "region_id": region_id, "region": region_id,
                                       "enabled": enabled}
        return eid

    def catalog(self, project_id: str | None) -> list[dict]:
        """The catalog put in a token; ``$(project_id)s`` filled in as Keystone does."""
        entries = []
        for sid, service in self.catalog_services.items():
            endpoints = []
            for e in self.catalog_endpoints.values():
                if e["service_id"] != sid or not e["enabled"]:
                    continue
                url = e["url"]
                for placeholder in ("$(project_id)s", "%(project_id)s", "$(tenant_id)s"):
                    if placeholder in url:
                        if project_id is None:
                            break
                        url = url.replace(placeholder, project_id)
                else:
                    endpoints.append({"id": e["id"], "interface": e["interface"],
                                      "region_id": e["region_id"], "region": e["region_id"],
                                      "url": url})
            if endpoints and service["enabled"]:
                entries.append({"id": sid, "type": service["type"], "name": service["name"],
                                "endpoints": endpoints})
        return entries

    # -- tokens -----------------------------------------------------------------------------

    def issue_token(self, user_id: str, methods: Iterable[str], *,
                    project_id: str | None = None, domain_id: str | None = None,
                    federation: dict | None = None, expires_at: dt.datetime | None = None,
                    audit_id: str | None = None) -> Token:
        """Issue a token; a project scope needs a role on the project (401 otherwise)."""
        user = self.users[user_id]
        now = utcnow()
        ttl_end = now + dt.timedelta(seconds=self.cloud.spec.token_ttl)
        roles: tuple[tuple[str, str], ...] = ()
        project = None
        if project_id is not None:
            project = self.projects.get(project_id)
            groups = [g["id"] for g in (federation or {}).get("groups", [])]
            roles = tuple(self.effective_roles(user_id, project_id, groups))
            if project is None or not project["enabled"] or not roles:
                raise SimError(401, f"User {user_id} has no access to project {project_id}")
        token = Token(
            id=self.tokens.new_token_id(), user_id=user_id, user_name=user["name"],
            user_domain_id=user["domain_id"], methods=tuple(methods), issued_at=now,
            expires_at=min(expires_at, ttl_end) if expires_at else ttl_end,
            audit_id=audit_id or secrets.token_urlsafe(16)[:22],
            project_id=project_id, project_name=project["name"] if project else None,
            project_domain_id=project["domain_id"] if project else None,
            domain_id=domain_id, roles=roles, federation=federation)
        return self.tokens.add(token)

    @property
    def tokens(self):
        return self.cloud.tokens

    def _domain_ref(self, domain_id: str) -> dict:
        return {"id": domain_id, "name": self.domains[domain_id]["name"]}

    def token_body(self, token: Token, *, catalog: bool = True) -> dict:
        """The ``{"token": ...}`` document Keystone returns for a token."""
        user = {"id": token.user_id, "name": token.user_name,
                "domain": self._domain_ref(token.user_domain_id), "password_expires_at": None}
        if token.federation:
            user["OS-FEDERATION"] = token.federation
        body: dict = {"methods": list(token.methods), "user": user,
                      "audit_ids": [token.audit_id],
                      "expires_at": iso_keystone(token.expires_at),
                      "issued_at": iso_keystone(token.issued_at)}
        if token.project_id:
            body["project"] = {"id": token.project_id, "name": token.project_name,
                               "domain": self._domain_ref(token.project_domain_id)}
            body["is_domain"] = False
        elif token.domain_id:
            body["domain"] = self._domain_ref(token.domain_id)
        if token.project_id or token.domain_id:
            body["roles"] = [{"id": rid, "name": name} for rid, name in token.roles]
            if catalog:
                body["catalog"] = self.catalog(token.project_id)
        service_providers = self.federation.service_providers_for_token()
        if service_providers:
            body["service_providers"] = service_providers
        return {"token": body}

    def _token_response(self, token: Token, status: int, catalog: bool) -> web.Response:
        return json_response(self.token_body(token, catalog=catalog), status=status,
                             headers={"X-Subject-Token": token.id})

    # -- HTTP -------------------------------------------------------------------------------

    def routes(self):
        r = web
        return [
            r.get("/", self.versions), r.get("/v3", self.version), r.get("/v3/", self.version),
            r.post("/v3/auth/tokens", self.authenticate),
            r.get("/v3/auth/tokens", self.validate, allow_head=False), r.head("/v3/auth/tokens", self.check),
            r.delete("/v3/auth/tokens", self.revoke),
            r.get("/v3/auth/projects", self.auth_projects),
            r.get("/v3/auth/domains", self.auth_domains),
            r.get("/v3/auth/system", self.auth_system),
            r.get("/v3/auth/catalog", self.auth_catalog),
            r.get("/v3/projects", self.list_projects), r.post("/v3/projects", self.post_project),
            r.get("/v3/projects/{id}", self.get_project),
            r.patch("/v3/projects/{id}", self.patch_project),
            r.delete("/v3/projects/{id}", self.delete_project),
            r.get("/v3/users", self.list_users), r.post("/v3/users", self.post_user),
            r.get("/v3/users/{id}", self.get_user),
            r.delete("/v3/users/{id}", self.delete_user),
            r.get("/v3/users/{id}/projects", self.user_projects),
            r.get("/v3/users/{id}/groups", self.user_groups),
            r.get("/v3/groups", self.list_groups), r.post("/v3/groups", self.post_group),
            r.get("/v3/groups/{id}", self.get_group),
            r.put("/v3/groups/{gid}/users/{uid}", self.add_member),
            r.get("/v3/roles", self.list_roles), r.post("/v3/roles", self.post_role),
            r.get("/v3/roles/{id}", self.get_role),
            r.put("/v3/projects/{pid}/{kind:users|groups}/{aid}/roles/{rid}", self.put_grant),
            r.head("/v3/projects/{pid}/{kind:users|groups}/{aid}/roles/{rid}", self.check_grant),
            r.delete("/v3/projects/{pid}/{kind:users|groups}/{aid}/roles/{rid}",
                     self.delete_grant),
            r.get("/v3/role_assignments", self.role_assignments),
            r.get("/v3/domains", self.list_domains), r.get("/v3/domains/{id}", self.get_domain),
            r.get("/v3/services", self.list_services), r.post("/v3/services", self.post_service),
            r.get("/v3/services/{id}", self.get_service),
            r.patch("/v3/services/{id}", self.patch_service),
            r.delete("/v3/services/{id}", self.delete_service),
            r.get("/v3/endpoints", self.list_endpoints),
            r.post("/v3/endpoints", self.post_endpoint),
            r.get("/v3/endpoints/{id}", self.get_endpoint),
            r.patch("/v3/endpoints/{id}", self.patch_endpoint),
            r.delete("/v3/endpoints/{id}", self.delete_endpoint),
            r.get("/v3/regions", self.list_regions),
            *self.federation.routes(),
        ]

    def _version_doc(self) -> dict:
        return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": self.base_url + "/v3/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.identity-v3+json"}]}

    @public
    async def versions(self, request: web.Request) -> web.Response:
        return json_response({"versions": {"values": [self._version_doc()]}}, status=300)

    @public
    async def version(self, request: web.Request) -> web.Response:
        return json_response({"version": self._version_doc()})

    # auth

    @public
    async def authenticate(self, request: web.Request) -> web.Response:
        body = await read_keystone_json(request)
        auth = _ref(body, "auth")
        identity = _ref(auth, "identity")
        methods = identity.get("methods")
        if not isinstance(methods, list) or not methods:
            raise bad_request("Invalid input for field 'identity/methods': 'methods' is a "
                              "required property")
        catalog = "nocatalog" not in request.query
        if "password" in methods:
            user_id = self._password_user(_ref(identity, "password"))
            federation, audit_id, expires_at, token_methods = None, None, None, ["password"]
        elif "token" in methods:
            old = self.tokens.validate(_ref(identity, "token").get("id"))
            if old is None:
                raise SimError(401, UNAUTHENTICATED)
            # A rescoped token keeps the original's methods, audit chain and expiry.
            user_id, federation = old.user_id, old.federation
            audit_id, expires_at = old.audit_id, old.expires_at
            token_methods = list(dict.fromkeys(["token", *old.methods]))
            if old.project_id and "scope" in auth:
                requested = auth["scope"].get("project", {}) if isinstance(
                    auth["scope"], dict) else {}
                if requested.get("id") not in (None, old.project_id):
                    raise forbidden("You are not authorized to perform the requested action: "
                                    "rescoping a scoped token is not allowed.")
        else:
            raise SimError(401, f"Attempted to authenticate with an unsupported method: "
                                f"{methods}")
        if not self.users.get(user_id, {}).get("enabled", False):
            raise SimError(401, UNAUTHENTICATED)
        project_id, domain_id = self._scope(auth.get("scope"), user_id)
        token = self.issue_token(user_id, token_methods, project_id=project_id,
                                 domain_id=domain_id, federation=federation,
                                 expires_at=expires_at, audit_id=audit_id)
        return self._token_response(token, 201, catalog)

    def _password_user(self, password: dict) -> str:
        user = _ref(password, "user")
        secret = user.get("password")
        if not isinstance(secret, str):
            raise bad_request("Invalid input for field 'identity/password/user/password': "
                              "None is not of type 'string'")
        if "id" in user:
            user_id = user["id"] if user["id"] in self.users else None
        elif "name" in user:
            domain = user.get("domain")
            if not isinstance(domain, dict):
                raise bad_request("Expecting to find domain in user. The server could not "
                                  "comply with the request since it is either malformed or "
                                  "otherwise incorrect. The client is assumed to be in error.")
            user_id = self.find_user(user["name"], self.domain_id_for(domain))
        else:
            raise bad_request("Expecting to find id or name in user. The server could not "
                              "comply with the request since it is either malformed or "
                              "otherwise incorrect. The client is assumed to be in error.")
        stored = self._passwords.get(user_id or "")
        if not stored or not hmac.compare_digest(stored[1], _hash_password(secret, stored[0])):
            raise SimError(401, UNAUTHENTICATED)
        return user_id

    def _scope(self, scope, user_id: str) -> tuple[str | None, str | None]:
        """The project (or domain) a token asks for; no scope means the default project."""
        if scope is None:
            default = self.users[user_id].get("default_project_id")
            if default and self.effective_roles(user_id, default):
                return default, None
            return None, None
        if scope == "unscoped":  # asked for explicitly: not even the default project
            return None, None
        if not isinstance(scope, dict):
            raise bad_request("Invalid input for field 'scope': not an object")
        if "project" in scope:
            ref = _ref(scope, "project")
            if "id" in ref:
                pid = ref["id"]
            elif "name" in ref and isinstance(ref.get("domain"), dict):
                pid = self.find_project(ref["name"], self.domain_id_for(ref["domain"]))
            else:
                raise bad_request("Expecting to find domain in project. The server could not "
                                  "comply with the request since it is either malformed or "
                                  "otherwise incorrect. The client is assumed to be in error.")
            if pid not in self.projects:
                raise SimError(401, f"Could not find project: {ref.get('id') or ref.get('name')}.")
            return pid, None
        if "domain" in scope:
            return None, self.domain_id_for(_ref(scope, "domain"))
        if "system" in scope or "OS-TRUST:trust" in scope:
            raise forbidden("You are not authorized to perform the requested action: "
                            "this cloud offers project and domain scopes only.")
        raise bad_request("Invalid input for field 'scope'")

    def _subject(self, request: web.Request) -> Token:
        caller: Token = request[TOKEN]
        subject_id = request.headers.get("X-Subject-Token")
        if not subject_id:
            raise bad_request("Expecting to find X-Subject-Token in the request headers.")
        subject = self.tokens.validate(subject_id)
        if subject is None:
            raise not_found(f"Could not find token: {subject_id[:8]}...")
        if subject.user_id != caller.user_id and not (
                caller.role_names & {ADMIN, SERVICE}):
            raise forbidden("You are not authorized to perform the requested action: "
                            "identity:validate_token.")
        return subject

    async def validate(self, request: web.Request) -> web.Response:
        subject = self._subject(request)
        return self._token_response(subject, 200, "nocatalog" not in request.query)

    async def check(self, request: web.Request) -> web.Response:
        self._subject(request)
        return web.Response(status=200)

    async def revoke(self, request: web.Request) -> web.Response:
        self.tokens.revoke(self._subject(request))
        return web.Response(status=204)

    async def auth_projects(self, request: web.Request) -> web.Response:
        token: Token = request[TOKEN]
        groups = [g["id"] for g in (token.federation or {}).get("groups", [])]
        return self._listing("projects", self.projects_of(token.user_id, groups), request,
                             filters=False)

    async def auth_domains(self, request: web.Request) -> web.Response:
        token: Token = request[TOKEN]
        groups = [g["id"] for g in (token.federation or {}).get("groups", [])]
        ids = {p["domain_id"] for p in self.projects_of(token.user_id, groups)}
        return self._listing("domains", [d for d in self.domains.values() if d["id"] in ids],
                             request, filters=False)

    async def auth_system(self, request: web.Request) -> web.Response:
        return self._listing("system", [], request, filters=False)

    async def auth_catalog(self, request: web.Request) -> web.Response:
        token: Token = request[TOKEN]
        if not token.project_id:
            raise forbidden("The authenticated token is not scoped; it has no catalog.")
        return json_response({"catalog": self.catalog(token.project_id),
                              "links": {"self": str(request.url), "next": None,
                                        "previous": None}})

    # identity objects: admin may do everything, others only read what is theirs

    def _require_admin(self, request: web.Request) -> Token:
        token: Token = request[TOKEN]
        if not token.is_admin:
            raise forbidden("You are not authorized to perform the requested action: "
                            f"{request.method} {request.path}.")
        return token

    def _listing(self, collection: str, items: Iterable[dict], request: web.Request,
                 filters: bool = True) -> web.Response:
        items = list(items)
        if filters:
            for key in ("name", "domain_id", "enabled"):
                if key in request.query:
                    wanted = request.query[key]
                    if key == "enabled":
                        items = [i for i in items
                                 if str(i.get(key)).lower() == wanted.lower()]
                    else:
                        items = [i for i in items if i.get(key) == wanted]
        base = f"{self.base_url}{request.path}"
        return json_response({collection: [self._with_link(i, base) for i in items],
                              "links": {"self": str(request.url), "previous": None,
                                        "next": None}})

    @staticmethod
    def _with_link(obj: dict, base: str) -> dict:
        obj = {k: v for k, v in obj.items()}
        if "id" in obj:
            obj["links"] = {"self": f"{base.split('?')[0].rstrip('/')}/{obj['id']}"}
        return obj

    def _one(self, table: dict[str, dict], kind: str, oid: str, request: web.Request):
        obj = table.get(oid)
        if obj is None:
            raise not_found(f"Could not find {kind}: {oid}.")
        links = {"self": f"{self.base_url}{request.path}"}
        return json_response({kind: {**obj, "links": links}})

    async def list_projects(self, request: web.Request) -> web.Response:
        token = request[TOKEN]
        visible = self.projects.values() if token.is_admin else [
            p for p in self.projects.values() if p["id"] == token.project_id]
        return self._listing("projects", visible, request)

    async def get_project(self, request: web.Request) -> web.Response:
        token = request[TOKEN]
        pid = request.match_info["id"]
        if not token.is_admin and pid != token.project_id:
            raise forbidden("You are not authorized to perform the requested action: "
                            "identity:get_project.")
        return self._one(self.projects, "project", pid, request)

    async def post_project(self, request: web.Request) -> web.Response:
        self._require_admin(request)
        ref = _ref(await read_keystone_json(request), "project")
        if not isinstance(ref.get("name"), str) or not ref["name"]:
            raise bad_request("Invalid input for field 'name': None is not of type 'string'")
        domain_id = ref.get("domain_id", DEFAULT_DOMAIN)
        if domain_id not in self.domains:
            raise not_found(f"Could not find domain: {domain_id}.")
        pid = self.create_project(ref["name"], domain_id, ref.get("description", ""),
                                  bool(ref.get("enabled", True)))
        return json_response({"project": self.projects[pid]}, status=201)

    async def patch_project(self, request: web.Request) -> web.Response:
        self._require_admin(request)
        pid = request.match_info["id"]
        if pid not in self.projects:
            raise not_found(f"Could not find project: {pid}.")
        ref = _ref(await read_keystone_json(request), "project")
        for key in ("name", "description", "enabled", "tags"):
            if key in ref:
                self.projects[pid][key] = ref[key]
        return json_response({"project": self.projects[pid]})

    async def delete_project(self, request: web.Request) -> web.Response:
        self._require_admin(request)
        pid = request.match_info["id"]
        if self.projects.pop(pid, None) is None:
            raise not_found(f"Could not find project: {pid}.")
        self.assignments = {a for a in self.assignments if a[2] != pid}
        return web.Response(status=204)

    async def list_users(self, request: web.Request) -> web.Response:
        self._require_admin(request)
        return self._listing("users", self.users.values(), request)

    async def get_user(self, request: web.Request) -> web.Response:
        token = request[TOKEN]
        uid = request.match_info["id"]
        if not token.is_admin and uid != token.user_id:
            raise forbidden("You are not authorized to perform the requested action: "
                            "identity:get_user.")
        return self._one(self.users, "user", uid, request)

    async def post_user(self, request: web.Request) -> web.Response:
        self._require_admin(request)
        ref = _ref(await read_keystone_json(request), "user")
        if not isinstance(ref.get("name"), str) or not ref["name"]:
            raise bad_request("Invalid input for field 'name': None is not of type 'string'")
        uid = self.create_user(ref["name"], ref.get("password"),
                               ref.get("domain_id", DEFAULT_DOMAIN),
                               ref.get("default_project_id"))
        return json_response({"user": self.users[uid]}, status=201)

    async def delete_user(self, request: web.Request) -> web.Response:
        self._require_admin(request)
        uid = request.match_info["id"]
        if self.users.pop(uid, None) is None:
            raise not_found(f"Could not find user: {uid}.")
        self._passwords.pop(uid, None)
        self.tokens.revoke_user(uid)
        self.assignments = {a for a in self.assignments if not (a[0] == "user" and a[1] == uid)}
        return web.Response(status=204)

    async def user_projects(self, request: web.Request) -> web.Response:
        token = request[TOKEN]
        uid = request.match_info["id"]
        if not token.is_admin and uid != token.user_id:
            raise forbidden("You are not authorized to perform the requested action: "
                            "identity:list_user_projects.")
        if uid not in self.users:
            raise not_found(f"Could not find user: {uid}.")
        return self._listing("projects", self.projects_of(uid), request)

    async def user_groups(self, request: web.Request) -> web.Response:
        token = request[TOKEN]
        uid = request.match_info["id"]
        if not token.is_admin and uid != token.user_id:
            raise forbidden("You are not authorized to perform the requested action: "
                            "identity:list_groups_for_user.")
        gids = {g for g, u in self.group_members if u == uid}
        return self._listing("groups", [g for g in self.groups.values() if g["id"] in gids],
                             request)

    async def list_groups(self, request: web.Request) -> web.Response:
        self._require_admin(request)
        return self._listing("groups", self.groups.values(), request)

    async def get_group(self, request: web.Request) -> web.Response:
        self._require_admin(request)
        return self._one(self.groups, "group", request.match_info["id"], request)

    async def post_group(self, request: web.Request) -> web.Response:
        self._require_admin(request)
        ref = _ref(await read_keystone_json(request), "group")
        if not isinstance(ref.get("name"), str) or not ref["name"]:
            raise bad_request("Invalid input for field 'name': None is not of type 'string'")
        domain_id = ref.get("domain_id", DEFAULT_DOMAIN)
        if self.find_group(ref["name"], domain_id):
            raise SimError(409, f"Conflict occurred attempting to store group - Duplicate "
                                f"entry found with name {ref['name']}.")
        gid = self.create_group(ref["name"], domain_id, ref.get("description", ""))
        return json_response({"group": self.groups[gid]}, status=201)

    async def add_member(self, request: web.Request) -> web.Response:
        self._require_admin(request)
        gid, uid = request.match_info["gid"], request.match_info["uid"]
        if gid not in self.groups:
            raise not_found(f"Could not find group: {gid}.")
        if uid not in self.users:
            raise not_found(f"Could not find user: {uid}.")
        self.group_members.add((gid, uid))
        return web.Response(status=204)

    async def list_roles(self, request: web.Request) -> web.Response:
        return self._listing("roles", self.roles.values(), request)

    async def get_role(self, request: web.Request) -> web.Response:
        return self._one(self.roles, "role", request.match_info["id"], request)

    async def post_role(self, request: web.Request) -> web.Response:
        self._require_admin(request)
        ref = _ref(await read_keystone_json(request), "role")
        if not isinstance(ref.get("name"), str) or not ref["name"]:
            raise bad_request("Invalid input for field 'name': None is not of type 'string'")
        if self.role_id(ref["name"]):
            raise SimError(409, f"Conflict occurred attempting to store role - Duplicate "
                                f"entry found with name {ref['name']}.")
        rid = self.create_role(ref["name"])
        return json_response({"role": self.roles[rid]}, status=201)

    def _grant(self, request: web.Request) -> tuple[str, str, str, str]:
        self._require_admin(request)
        m = request.match_info
        kind = "user" if m["kind"] == "users" else "group"
        for table, key, what in ((self.projects, "pid", "project"),
                                 (self.users if kind == "user" else self.groups, "aid", kind),
                                 (self.roles, "rid", "role")):
            if m[key] not in table:
                raise not_found(f"Could not find {what}: {m[key]}.")
        return kind, m["aid"], m["pid"], m["rid"]

    async def put_grant(self, request: web.Request) -> web.Response:
        self.assign_role(*self._grant(request))
        return web.Response(status=204)

    async def check_grant(self, request: web.Request) -> web.Response:
        grant = self._grant(request)
        if grant not in self.assignments:
            raise not_found("Could not find role assignment.")
        return web.Response(status=204)

    async def delete_grant(self, request: web.Request) -> web.Response:
        grant = self._grant(request)
        if grant not in self.assignments:
            raise not_found("Could not find role assignment.")
        self.assignments.discard(grant)
        return web.Response(status=204)

    async def role_assignments(self, request: web.Request) -> web.Response:
        token: Token = request[TOKEN]
        q = request.query
        if not token.is_admin and q.get("user.id") != token.user_id:
            raise forbidden("You are not authorized to perform the requested action: "
                            "identity:list_role_assignments.")
        result = []
        for kind, actor, pid, rid in sorted(self.assignments):
            if q.get("user.id") and not (kind == "user" and actor == q["user.id"]):
                continue
            if q.get("group.id") and not (kind == "group" and actor == q["group.id"]):
                continue
            if q.get("scope.project.id") and pid != q["scope.project.id"]:
                continue
            if q.get("role.id") and rid != q["role.id"]:
                continue
            result.append({"role": {"id": rid}, kind: {"id": actor},
                           "scope": {"project": {"id": pid}},
                           "links": {"assignment": f"{self.base_url}/v3/projects/{pid}/"
                                                   f"{kind}s/{actor}/roles/{rid}"}})
        return json_response({"role_assignments": result,
                              "links": {"self": str(request.url), "previous": None,
                                        "next": None}})

    async def list_domains(self, request: web.Request) -> web.Response:
        return self._listing("domains", self.domains.values(), request)

    async def get_domain(self, request: web.Request) -> web.Response:
        return self._one(self.domains, "domain", request.match_info["id"], request)

    # the catalog: services and endpoints, as data an admin can change

    def _catalog_write(self, request: web.Request, table: dict[str, dict], kind: str,
                       oid: str | None) -> dict | None:
        self._require_admin(request)
        if oid is not None and oid not in table:
            raise not_found(f"Could not find {kind}: {oid}.")
        return table.get(oid) if oid else None

    async def list_services(self, request: web.Request) -> web.Response:
        services = [s for s in self.catalog_services.values()
                    if request.query.get("type") in (None, s["type"])]
        return self._listing("services", services, request)

    async def get_service(self, request: web.Request) -> web.Response:
        return self._one(self.catalog_services, "service", request.match_info["id"], request)

    async def post_service(self, request: web.Request) -> web.Response:
        self._catalog_write(request, self.catalog_services, "service", None)
        ref = _ref(await read_keystone_json(request), "service")
        if not isinstance(ref.get("type"), str) or not ref["type"]:
            raise bad_request("Invalid input for field 'type': None is not of type 'string'")
        sid = self.add_catalog_service(ref["type"], ref.get("name", ""),
                                       ref.get("description", ""), bool(ref.get("enabled", True)))
        return json_response({"service": self.catalog_services[sid]}, status=201)

    async def patch_service(self, request: web.Request) -> web.Response:
        service = self._catalog_write(request, self.catalog_services, "service",
                                      request.match_info["id"])
        ref = _ref(await read_keystone_json(request), "service")
        service.update({k: ref[k] for k in ("type", "name", "description", "enabled")
                        if k in ref})
        return json_response({"service": service})

    async def delete_service(self, request: web.Request) -> web.Response:
        sid = request.match_info["id"]
        self._catalog_write(request, self.catalog_services, "service", sid)
        del self.catalog_services[sid]
        self.catalog_endpoints = {k: e for k, e in self.catalog_endpoints.items()
                                  if e["service_id"] != sid}
        return web.Response(status=204)

    async def list_endpoints(self, request: web.Request) -> web.Response:
        q = request.query
        endpoints = [e for e in self.catalog_endpoints.values()
                     if all(q.get(k) in (None, e[k]) for k in ("service_id", "interface",
                                                                "region_id"))]
        return self._listing("endpoints", endpoints, request, filters=False)

    async def get_endpoint(self, request: web.Request) -> web.Response:
        return self._one(self.catalog_endpoints, "endpoint", request.match_info["id"], request)

    def _endpoint_fields(self, ref: dict, partial: bool) -> dict:
        fields = {}
        for key in ("service_id", "interface", "url", "region_id", "enabled"):
            if key in ref:
                fields[key] = ref[key]
            elif key == "region_id" and "region" in ref:
                fields[key] = ref["region"]
            elif not partial and key in ("service_id", "interface", "url"):
                raise bad_request(f"Invalid input for field '{key}': it is a required property")
        if "interface" in fields and fields["interface"] not in ("public", "internal", "admin"):
            raise bad_request(f"Invalid input for field 'interface': "
                              f"{fields['interface']!r} is not one of ['admin', 'internal', "
                              f"'public']")
        if "url" in fields and not (isinstance(fields["url"], str)
                                    and fields["url"].startswith(("http://", "https://"))):
            raise bad_request("Invalid input for field 'url': not a valid URL")
        if "service_id" in fields and fields["service_id"] not in self.catalog_services:
            raise bad_request(f"Could not find service: {fields['service_id']}.")
        return fields

    async def post_endpoint(self, request: web.Request) -> web.Response:
        self._catalog_write(request, self.catalog_endpoints, "endpoint", None)
        fields = self._endpoint_fields(_ref(await read_keystone_json(request), "endpoint"), False)
        eid = self.add_catalog_endpoint(fields["service_id"], fields["interface"],
                                        fields["url"], fields.get("region_id"),
                                        bool(fields.get("enabled", True)))
        return json_response({"endpoint": self.catalog_endpoints[eid]}, status=201)

    async def patch_endpoint(self, request: web.Request) -> web.Response:
        endpoint = self._catalog_write(request, self.catalog_endpoints, "endpoint",
                                       request.match_info["id"])
        fields = self._endpoint_fields(_ref(await read_keystone_json(request), "endpoint"), True)
        endpoint.update(fields)
        endpoint["region"] = endpoint["region_id"]
        return json_response({"endpoint": endpoint})

    async def delete_endpoint(self, request: web.Request) -> web.Response:
        eid = request.match_info["id"]
        self._catalog_write(request, self.catalog_endpoints, "endpoint", eid)
        del self.catalog_endpoints[eid]
        return web.Response(status=204)

    async def list_regions(self, request: web.Request) -> web.Response:
        return self._listing("regions", [{"id": self.cloud.spec.region, "description": "",
                                          "parent_region_id": None}], request, filters=False)
