"""Real Keystone-to-Keystone federation: A's Keystone signs SAML assertions (xmlsec1), B's
Keystone sits behind an Apache instance of its own whose mod_auth_mellon checks them.
"""
from __future__ import annotations

import datetime
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .keystone import Admin
from .layout import LOOPBACK, Cloud
from .procs import Supervisor
from .services import service_env

PROTOCOL = "saml2"
MAPPING = "cloud-a-users"
FEDERATED_GROUP = "cloud-a-users"
FEDERATED_PROJECT = "federated"
# A's OCX's service user (gateway.py): B's operator trusts it as a service of A's (below).
OCX_USER = "ocx"
SERVICES_GROUP = "cloud-a-services"
APACHE_MODULES = "/usr/lib/apache2/modules"


def idp_id(a: Cloud) -> str:
    """The identity provider's id at B (it names A)."""
    return a.id


def sp_id(b: Cloud) -> str:
    """The service provider's id at A (it names B)."""
    return b.id


# Entity ids are names, not addresses: they stay the same when the ports change.
def idp_entity_id(a: Cloud) -> str:
    return f"http://{LOOPBACK}/ocx-real/{a.id}/idp"


def sp_entity_id(b: Cloud) -> str:
    return f"http://{LOOPBACK}/ocx-real/{b.id}/sp"


def federation_auth_path(a: Cloud) -> str:
    return f"/v3/OS-FEDERATION/identity_providers/{idp_id(a)}/protocols/{PROTOCOL}/auth"


def mellon_path(a: Cloud) -> str:
    return federation_auth_path(a) + "/mellon"


# --- keys and metadata ----------------------------------------------------------------------

def make_signing_key(folder: Path, common_name: str) -> None:
    """A self-signed RSA key and certificate (key.pem, cert.pem), made once per set-up."""
    folder.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()))
    (folder / "key.pem").chmod(0o600)
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def saml_dir(a: Cloud) -> Path:
    return a.dir / "keys" / "saml"


def idp_saml_options(a: Cloud) -> dict[str, str]:
    """Keystone A's [saml]: how it signs the assertions it issues for B."""
    folder = saml_dir(a)
    return {"certfile": str(folder / "cert.pem"), "keyfile": str(folder / "key.pem"),
            "idp_entity_id": idp_entity_id(a),
            "idp_sso_endpoint": a.base("keystone") + "/v3/OS-FEDERATION/saml2/sso",
            "idp_metadata_path": str(folder / "idp-metadata.xml"),
            "xmlsec1_binary": "xmlsec1",
            "idp_organization_name": "ocx-real", "idp_organization_display_name": "Cloud A",
            "idp_organization_url": a.base("keystone"), "idp_contact_company": "OCX",
            "idp_contact_name": "OCX", "idp_contact_surname": "Tests",
            "idp_contact_email": "ocx@example.org", "idp_contact_telephone": "+10000000000",
            "idp_contact_type": "technical"}


def write_idp_metadata(a: Cloud) -> None:
    """keystone-manage prints the IdP's metadata (entity id, signing certificate)."""
    log = a.log("keystone-saml-metadata")
    out = saml_dir(a) / "idp-metadata.xml"
    argv = [a.bin("keystone-manage"), "--config-file", str(a.dir / "keystone.conf"),
            "saml_idp_metadata"]
    tmp = out.with_suffix(".tmp")
    with open(tmp, "wb") as stdout, open(log, "ab") as stderr:
        proc = subprocess.run(argv, cwd=a.dir, env=service_env(a), stdout=stdout,
                              stderr=stderr)
    if proc.returncode != 0 or b"EntityDescriptor" not in tmp.read_bytes():
        raise RuntimeError(f"keystone-manage saml_idp_metadata failed: see {log}")
    tmp.rename(out)


def sp_metadata(a: Cloud, b: Cloud) -> str:
    """mellon's SP metadata, with the PAOS consumer ECP needs (mellon_create_metadata only
    writes the POST one)."""
    cert = (b.dir / "keys" / "mellon" / "cert.pem").read_text()
    body = "".join(line for line in cert.splitlines() if "-----" not in line)
    endpoint = b.base("apache") + mellon_path(a)
    key_info = ('<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data>'
                f"<ds:X509Certificate>{body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>")
    return f"""<?xml version="1.0"?>
<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{sp_entity_id(b)}">
  <SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true"
      protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <KeyDescriptor use="signing">{key_info}</KeyDescriptor>
    <KeyDescriptor use="encryption">{key_info}</KeyDescriptor>
    <SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="{endpoint}/logout"/>
    <AssertionConsumerService index="0" isDefault="true"
        Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
        Location="{endpoint}/postResponse"/>
    <AssertionConsumerService index="1" Binding="urn:oasis:names:tc:SAML:2.0:bindings:PAOS"
        Location="{endpoint}/paosResponse"/>
  </SPSSODescriptor>
</EntityDescriptor>
"""


# --- B's Apache -------------------------------------------------------------------------------

def apache_conf(a: Cloud, b: Cloud, root: Path, run_as: str | None) -> str:
    modules = ["mpm_event", "authn_core", "authz_core", "authz_user", "headers", "proxy",
               "proxy_http"]
    loads = "\n".join(f"LoadModule {m}_module {APACHE_MODULES}/mod_{m}.so" for m in modules)
    user = f"User {run_as}\nGroup {run_as}\n" if run_as else ""
    keystone = b.base("keystone")
    return f"""# Apache instance of cloud {b.id}: mellon in front of its Keystone (not the system's)
ServerRoot "{root}"
ServerName {LOOPBACK}
Listen {LOOPBACK}:{b.ports["apache"]}
PidFile "{root}/apache.pid"
DefaultRuntimeDir "{root}"
Mutex file:{root} default
{user}{loads}
LoadModule auth_mellon_module {APACHE_MODULES}/mod_auth_mellon.so
StartServers 1
ServerLimit 1
ThreadsPerChild 16
MaxRequestWorkers 16
MinSpareThreads 1
MaxSpareThreads 16
ErrorLog "{b.log("apache-error")}"
LogLevel warn auth_mellon:info
LogFormat "%h %t \\"%r\\" %>s %b %D idp=%{{X-Mellon-Idp}}i user=%{{X-Mellon-User}}i" short
CustomLog "{b.log("apache-access")}" short
Timeout 300

# Only mellon may say who the user is: a client's own X-Mellon-* headers are dropped.
RequestHeader unset X-Mellon-Idp early
RequestHeader unset X-Mellon-User early

ProxyPreserveHost On
ProxyPass "{mellon_path(a)}" "!"
ProxyPass "/" "{keystone}/" timeout=300
ProxyPassReverse "/" "{keystone}/"

<Location "{federation_auth_path(a)}">
    AuthType Mellon
    MellonEnable auth
    Require valid-user
    MellonEndpointPath "{mellon_path(a)}"
    MellonSPPrivateKeyFile "{root / "mellon-key.pem"}"
    MellonSPCertFile "{root / "mellon-cert.pem"}"
    MellonSPMetadataFile "{root / "sp-metadata.xml"}"
    MellonIdPMetadataFile "{root / "idp-metadata.xml"}"
    MellonSecureCookie Off
    # The IdP's entity id goes into MELLON_IDP: what B's Keystone checks the remote id with.
    MellonIdP "IDP"
    # mellon's variables do not cross the reverse proxy: they go to Keystone as headers.
    RequestHeader set X-Mellon-Idp "%{{MELLON_IDP}}e"
    RequestHeader set X-Mellon-User "%{{MELLON_openstack_user}}e"
</Location>
"""


def apache_user() -> str | None:
    """Apache refuses to serve as root: as root, its workers run as www-data."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("www-data")
        return "www-data"
    except KeyError:
        return "nobody"


def write_apache_files(a: Cloud, b: Cloud, root: Path, run_as: str | None) -> Path:
    """Apache's configuration, mellon's key and both metadata files; returns the config."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("key.pem", "cert.pem"):
        shutil.copyfile(b.dir / "keys" / "mellon" / name, root / f"mellon-{name}")
    (root / "mellon-key.pem").chmod(0o600)
    (root / "sp-metadata.xml").write_text(sp_metadata(a, b))
    shutil.copyfile(saml_dir(a) / "idp-metadata.xml", root / "idp-metadata.xml")
    conf = root / "apache2.conf"
    conf.write_text(apache_conf(a, b, root, run_as))
    if run_as:
        entry = pwd.getpwnam(run_as)
        for path in (root, *root.iterdir()):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    return conf


SCRATCH_PREFIX = "ocx-real-apache-"


def remove_stale_scratch() -> None:
    """Apache folders left by harnesses that were killed (their pid is in the name)."""
    for folder in Path(tempfile.gettempdir()).glob(SCRATCH_PREFIX + "*"):
        pid = folder.name[len(SCRATCH_PREFIX):].split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(folder, ignore_errors=True)


def start_apache(a: Cloud, b: Cloud, supervisor: Supervisor) -> Path | None:
    """Start B's Apache; returns the scratch folder to remove after it stopped, if any."""
    run_as = apache_user()
    # Apache's workers (www-data when started by root) read mellon's files lazily: those
    # go to a folder of their own outside the cache, which may sit in root's home.
    remove_stale_scratch()
    scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")) if run_as else None
    try:
        conf = write_apache_files(a, b, scratch or b.dir / "apache", run_as)
        supervisor.start(f"{b.id} apache", ["/usr/sbin/apache2", "-f", str(conf), "-DFOREGROUND"],
                         b.log("apache"), cwd=conf.parent, env={"PATH": "/usr/sbin:/usr/bin:/bin"},
                         url=b.auth_url)
    except BaseException:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    return scratch


# --- federation objects -----------------------------------------------------------------------

def register_idp_at_sp(a: Cloud, b: Cloud) -> dict[str, str]:
    """At B: A as identity provider; its users mapped into a group with member on a project."""
    admin = Admin(b)
    project_id = admin.project(FEDERATED_PROJECT, f"where users of {a.id} land through K2K")
    group = {"group": {"name": FEDERATED_GROUP, "domain_id": "default",
                       "description": f"users of {a.id}"}}
    group_id = admin.post("/groups", group)["group"]["id"]
    admin.put(f"/projects/{project_id}/groups/{group_id}/roles/{admin.role_id('member')}")
    # A's OCX also gets the role `service` there: B's Cinder then takes the token OCX sends
    # in X-Service-Token for a service of A (Nova deleting an attachment in use, bug 2004555).
    services = {"group": {"name": SERVICES_GROUP, "domain_id": "default",
                          "description": f"services of {a.id} (its OCX)"}}
    services_id = admin.post("/groups", services)["group"]["id"]
    admin.put(f"/projects/{project_id}/groups/{services_id}/roles/{admin.role_id('service')}")
    admin.put(f"/OS-FEDERATION/identity_providers/{idp_id(a)}",
              {"identity_provider": {"remote_ids": [idp_entity_id(a)], "enabled": True,
                                     "description": f"cloud {a.id}"}})
    rules = [{"local": [{"user": {"name": "{0}"}}, {"group": {"id": group_id}}],
              "remote": [{"type": "HTTP_X_MELLON_USER"}]},
             {"local": [{"group": {"id": services_id}}],
              "remote": [{"type": "HTTP_X_MELLON_USER", "any_one_of": [OCX_USER]}]}]
    admin.put(f"/OS-FEDERATION/mappings/{MAPPING}", {"mapping": {"rules": rules}})
    admin.put(f"/OS-FEDERATION/identity_providers/{idp_id(a)}/protocols/{PROTOCOL}",
              {"protocol": {"mapping_id": MAPPING}})
    return {"b_project_id": project_id, "b_group_id": group_id}


def register_sp_at_idp(a: Cloud, b: Cloud) -> None:
    """At A: B as service provider. The relay state must be a path mellon accepts (it
    refuses Keystone's default "ss:mem:" with a 400); the CLI has no flag for it."""
    auth_url = b.base("apache") + federation_auth_path(a)
    Admin(a).put(f"/OS-FEDERATION/service_providers/{sp_id(b)}", {"service_provider": {
        "auth_url": auth_url, "sp_url": b.base("apache") + mellon_path(a) + "/paosResponse",
        "relay_state_prefix": federation_auth_path(a) + "?rs=", "enabled": True,
        "description": f"cloud {b.id}"}})
