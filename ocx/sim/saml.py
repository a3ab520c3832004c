"""SAML2 assertions as a Keystone identity provider issues them for K2K, and their checks at the SP.

The IdP side builds a ``samlp:Response`` holding one ``saml:Assertion`` with the claims Keystone
puts in it (``openstack_user``, ``openstack_roles``, ...), signs the assertion (enveloped XML-DSig,
RSA-SHA256, exclusive c14n, through signxml) and wraps the response in the ECP SOAP envelope.

The SP side plays Shibboleth's part: it parses the envelope with a parser that loads no DTD,
entity or network resource, verifies the signature against the certificate of the IdP named as
issuer, checks issuer, audience, recipient and validity window, refuses a second use of the same
assertion, and hands back the attributes. Everything is a pure function except the replay
memory, which is a small object the SP keeps.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConfiguration,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
)
from signxml.exceptions import SignXMLException

from .wire import iso_keystone, iso_z, parse_time, utcnow

NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NS_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
NS_ECP = "urn:oasis:names:tc:SAML:2.0:profiles:SSO:ecp"
NS_XS = "http://www.w3.org/2001/XMLSchema"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {"saml": NS_SAML, "samlp": NS_SAMLP, "ds": NS_DS, "soap11": NS_SOAP, "ecp": NS_ECP,
         "xs": NS_XS, "xsi": NS_XSI}

NAMEID_ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
AUTHN_PASSWORD = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"
SOAP_ACTOR_NEXT = "http://schemas.xmlsoap.org/soap/actor/next"

# Keystone's [saml] assertion_expiration_time and relay_state_prefix defaults.
ASSERTION_LIFETIME = 3600
RELAY_STATE_PREFIX = "ss:mem:"
# Clock skew an SP tolerates between its clock and the IdP's (Shibboleth's default is 180 s).
CLOCK_SKEW = dt.timedelta(seconds=180)


def _q(prefix: str, name: str) -> str:
    return f"{{{NSMAP[prefix]}}}{name}"


# -- the IdP's signing identity ------------------------------------------------------------------


@dataclass(frozen=True)
class SigningIdentity:
    """An IdP's RSA key and the self-signed certificate an SP is given out of band (metadata)."""

    key_pem: bytes = field(repr=False)
    cert_pem: str


def make_signing_identity(common_name: str, *, days: int = 3650) -> SigningIdentity:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = utcnow()
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return SigningIdentity(key_pem=key_pem,
                           cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode())


# -- IdP side: build, sign, wrap -----------------------------------------------------------------


@dataclass(frozen=True)
class Claims:
    """What a Keystone IdP says about the holder of a project-scoped token.

    ``groups`` are Keystone's serialized group memberships:
    ``JSON:{"name": "g1", "domain": {"name": "Default"}}``.
    """

    user: str
    user_domain: str
    roles: tuple[str, ...]
    project: str
    project_domain: str
    groups: tuple[str, ...] = ()

    def attributes(self) -> list[tuple[str, list[str]]]:
        """The attribute statement, in the order Keystone writes it."""
        attrs = [("openstack_user", [self.user]), ("openstack_roles", list(self.roles)),
                 ("openstack_project", [self.project]),
                 ("openstack_project_domain", [self.project_domain]),
                 ("openstack_user_domain", [self.user_domain])]
        if self.groups:
            attrs.append(("openstack_groups", list(self.groups)))
        return attrs


def _sub(parent: etree._Element, prefix: str, name: str, text: str | None = None,
         **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, _q(prefix, name), attrs)
    if text is not None:
        element.text = text
    return element


def _issuer(parent: etree._Element, entity_id: str) -> etree._Element:
    return _sub(parent, "saml", "Issuer", entity_id, Format=NAMEID_ENTITY)


def build_assertion(claims: Claims, *, issuer: str, recipient: str, audience: str,
                    now: dt.datetime, lifetime: int = ASSERTION_LIFETIME) -> etree._Element:
    """An unsigned ``saml:Assertion`` with a signature placeholder after its issuer."""
    expires = iso_keystone(now + dt.timedelta(seconds=lifetime))
    assertion = etree.Element(_q("saml", "Assertion"), nsmap={"saml": NS_SAML, "xs": NS_XS,
                                                               "xsi": NS_XSI},
                              ID="_" + uuid.uuid4().hex, IssueInstant=iso_z(now), Version="2.0")
    _issuer(assertion, issuer)
    etree.SubElement(assertion, _q("ds", "Signature"), Id="placeholder", nsmap={"ds": NS_DS})

    subject = _sub(assertion, "saml", "Subject")
    _sub(subject, "saml", "NameID", claims.user)
    confirmation = _sub(subject, "saml", "SubjectConfirmation", Method=BEARER)
    _sub(confirmation, "saml", "SubjectConfirmationData", NotOnOrAfter=expires,
         Recipient=recipient)

    conditions = _sub(assertion, "saml", "Conditions", NotBefore=iso_z(now), NotOnOrAfter=expires)
    _sub(_sub(conditions, "saml", "AudienceRestriction"), "saml", "Audience", audience)

    authn = _sub(assertion, "saml", "AuthnStatement", AuthnInstant=iso_z(now),
                 SessionIndex=uuid.uuid4().hex, SessionNotOnOrAfter=expires)
    context = _sub(authn, "saml", "AuthnContext")
    _sub(context, "saml", "AuthnContextClassRef", AUTHN_PASSWORD)
    _sub(context, "saml", "AuthenticatingAuthority", issuer)

    statement = _sub(assertion, "saml", "AttributeStatement")
    for name, values in claims.attributes():
        attribute = _sub(statement, "saml", "Attribute", Name=name)
        for value in values:
            _sub(attribute, "saml", "AttributeValue", value,
                 **{_q("xsi", "type"): "xs:string"})
    return assertion


def sign_assertion(assertion: etree._Element, identity: SigningIdentity) -> etree._Element:
    """Enveloped signature over the assertion, referenced by its ``ID``.

    Exclusive c14n keeps the signature valid once the assertion sits inside a response and an
    envelope with namespaces of their own.
    """
    signer = XMLSigner(signature_algorithm=SignatureMethod.RSA_SHA256,
                       digest_algorithm=DigestAlgorithm.SHA256,
                       c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0)
    return signer.sign(assertion, key=identity.key_pem, cert=identity.cert_pem,
                       reference_uri="#" + assertion.get("ID"), id_attribute="ID")


def build_response(claims: Claims, *, issuer: str, recipient: str, audience: str,
                   identity: SigningIdentity, now: dt.datetime | None = None,
                   lifetime: int = ASSERTION_LIFETIME) -> bytes:
    """Keystone's ``samlize_token``: a ``samlp:Response`` with one signed assertion."""
    now = now or utcnow()
    assertion = sign_assertion(
        build_assertion(claims, issuer=issuer, recipient=recipient, audience=audience, now=now,
                        lifetime=lifetime), identity)
    response = etree.Element(_q("samlp", "Response"), nsmap={"samlp": NS_SAMLP, "saml": NS_SAML},
                             Destination=recipient, ID="_" + uuid.uuid4().hex,
                             IssueInstant=iso_z(now), Version="2.0")
    _issuer(response, issuer)
    status = _sub(response, "samlp", "Status")
    _sub(status, "samlp", "StatusCode", Value=STATUS_SUCCESS)
    response.append(assertion)
    return etree.tostring(response, xml_declaration=True, encoding="UTF-8")


def ecp_envelope(response_xml: bytes, *, relay_state_prefix: str = RELAY_STATE_PREFIX,
                 consumer_url: str) -> bytes:
    """The SOAP envelope Keystone's ``/auth/OS-FEDERATION/saml2/ecp`` answers with.

    Its header carries the ECP relay state (and the consumer URL the ECP profile names); the
    body carries the response as it was signed.
    """
    envelope = etree.Element(_q("soap11", "Envelope"), nsmap={"soap11": NS_SOAP, "ecp": NS_ECP})
    header = _sub(envelope, "soap11", "Header")
    soap_attrs = {_q("soap11", "actor"): SOAP_ACTOR_NEXT, _q("soap11", "mustUnderstand"): "1"}
    _sub(header, "ecp", "Response", AssertionConsumerServiceURL=consumer_url, **soap_attrs)
    _sub(header, "ecp", "RelayState", relay_state_prefix + uuid.uuid4().hex, **soap_attrs)
    body = _sub(envelope, "soap11", "Body")
    body.append(parse_xml(response_xml))
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


NS_MD = "urn:oasis:names:tc:SAML:2.0:metadata"
NAMEID_TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
BINDING_URI = "urn:oasis:names:tc:SAML:2.0:bindings:URI"


def idp_metadata(entity_id: str, cert_pem: str, *, sso_url: str) -> bytes:
    """The IdP metadata Keystone serves (``/v3/OS-FEDERATION/saml2/metadata``) for SPs to trust."""
    md = f"{{{NS_MD}}}"
    root = etree.Element(md + "EntityDescriptor", nsmap={"md": NS_MD, "ds": NS_DS},
                         entityID=entity_id)
    sso = etree.SubElement(root, md + "IDPSSODescriptor",
                           protocolSupportEnumeration=NS_SAMLP)
    key = etree.SubElement(sso, md + "KeyDescriptor", use="signing")
    x509_data = _sub(_sub(key, "ds", "KeyInfo"), "ds", "X509Data")
    _sub(x509_data, "ds", "X509Certificate", "".join(
        line for line in cert_pem.splitlines() if line and not line.startswith("-----")))
    etree.SubElement(sso, md + "NameIDFormat").text = NAMEID_TRANSIENT
    etree.SubElement(sso, md + "SingleSignOnService", Binding=BINDING_URI, Location=sso_url)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# -- SP side: parse, verify, check ---------------------------------------------------------------


class AssertionRejected(Exception):
    """The SP will not accept this assertion; ``reason`` says which check failed."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class VerifiedAssertion:
    """What an SP learns from an assertion whose signature and conditions it checked."""

    id: str
    issuer: str
    name_id: str
    not_on_or_after: dt.datetime
    attributes: Mapping[str, tuple[str, ...]]


def _safe_parser() -> etree.XMLParser:
    # No DTD, no entity expansion, no network: an assertion is data, never instructions.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_pis=True)


def parse_xml(data: bytes | str) -> etree._Element:
    """Parse untrusted XML; a DTD, an entity or a syntax error is ``malformed``."""
    if isinstance(data, str):
        data = data.encode()
    try:
        root = etree.fromstring(data, parser=_safe_parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise AssertionRejected("malformed", f"The SAML message is not well-formed XML: {exc}")
    if root is None:
        raise AssertionRejected("malformed", "The SAML message is empty.")
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None or docinfo.doctype:
        raise AssertionRejected("malformed", "DTDs are not allowed in SAML messages.")
    if any(True for _ in root.iter(etree.Entity)):
        raise AssertionRejected("malformed", "Entities are not allowed in SAML messages.")
    return root


def find_response(root: etree._Element) -> etree._Element:
    """The ``samlp:Response`` of an ECP envelope, or the document itself if it is one."""
    if root.tag == _q("samlp", "Response"):
        return root
    if root.tag != _q("soap11", "Envelope"):
        raise AssertionRejected("malformed", "Expected a SOAP envelope or a SAML response.")
    responses = root.findall("soap11:Body/samlp:Response", NSMAP)
    if len(responses) != 1:
        raise AssertionRejected("malformed", "The envelope must carry exactly one SAML response.")
    return responses[0]


def unverified_issuer(response: etree._Element) -> str:
    """Who the assertion claims to come from: only used to choose the certificate to check."""
    assertions = response.findall("saml:Assertion", NSMAP)
    if len(assertions) != 1:
        raise AssertionRejected("malformed", "The response must carry exactly one assertion.")
    issuer = assertions[0].findtext("saml:Issuer", namespaces=NSMAP)
    if not issuer:
        raise AssertionRejected("malformed", "The assertion names no issuer.")
    return issuer.strip()


def _verify_signature(assertion: etree._Element, cert_pem: str) -> etree._Element:
    """The assertion as signed by the holder of ``cert_pem``; only this copy may be read."""
    config = SignatureConfiguration(expect_references=1, signature_methods=frozenset({
        SignatureMethod.RSA_SHA256, SignatureMethod.RSA_SHA384, SignatureMethod.RSA_SHA512}))
    try:
        result = XMLVerifier().verify(etree.tostring(assertion), x509_cert=cert_pem,
                                      id_attribute="ID", expect_config=config,
                                      parser=_safe_parser())
    except (SignXMLException, etree.DocumentInvalid) as exc:
        raise AssertionRejected("signature", f"The assertion signature is not valid: {exc}")
    signed = result.signed_xml
    if (signed is None or signed.tag != _q("saml", "Assertion")
            or signed.get("ID") != assertion.get("ID")):
        raise AssertionRejected("signature", "The signature does not cover the assertion.")
    return signed


def _time(element: etree._Element | None, attribute: str) -> dt.datetime | None:
    value = None if element is None else element.get(attribute)
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError:
        raise AssertionRejected("malformed", f"{attribute} is not a time: {value!r}")


def _check_window(signed: etree._Element, now: dt.datetime, skew: dt.timedelta) -> dt.datetime:
    """Refuse an assertion that is not yet or no longer valid; returns its expiry."""
    conditions = signed.find("saml:Conditions", NSMAP)
    confirmation = signed.find("saml:Subject/saml:SubjectConfirmation/"
                               "saml:SubjectConfirmationData", NSMAP)
    not_before = _time(conditions, "NotBefore") or _time(signed, "IssueInstant")
    ends = [t for t in (_time(conditions, "NotOnOrAfter"), _time(confirmation, "NotOnOrAfter"))
            if t is not None]
    if not ends:
        raise AssertionRejected("malformed", "The assertion has no expiry.")
    if not_before is not None and now + skew < not_before:
        raise AssertionRejected("not_yet_valid", "The assertion is not valid yet.")
    expiry = min(ends)
    if now - skew >= expiry:
        raise AssertionRejected("expired", "The assertion has expired.")
    return expiry


def _attributes(signed: etree._Element) -> dict[str, tuple[str, ...]]:
    attrs: dict[str, tuple[str, ...]] = {}
    for attribute in signed.iterfind("saml:AttributeStatement/saml:Attribute", NSMAP):
        name = attribute.get("Name")
        if name:
            values = tuple((v.text or "").strip()
                           for v in attribute.iterfind("saml:AttributeValue", NSMAP))
            attrs[name] = attrs.get(name, ()) + values
    return attrs


def verify_response(document: bytes | str, *, trusted: Mapping[str, str], audience: str,
                    recipient: str, now: dt.datetime | None = None,
                    skew: dt.timedelta = CLOCK_SKEW) -> VerifiedAssertion:
    """Check an ECP envelope (or bare response) as a SAML SP does, and return what it asserts.

    ``trusted`` maps an IdP entity id to the PEM certificate it signs with. The assertion must
    be signed by the issuer it names, be meant for ``audience`` and ``recipient``, and be within
    its validity window. Replay is checked by :class:`ReplayGuard`, not here.
    """
    now = now or utcnow()
    response = find_response(parse_xml(document))
    status = response.find("samlp:Status/samlp:StatusCode", NSMAP)
    if status is None or status.get("Value") != STATUS_SUCCESS:
        raise AssertionRejected("status", "The SAML response does not report success.")
    issuer = unverified_issuer(response)
    cert = trusted.get(issuer)
    if cert is None:
        raise AssertionRejected("issuer", f"The assertion issuer {issuer} is not trusted.")
    signed = _verify_signature(response.find("saml:Assertion", NSMAP), cert)

    if (signed.findtext("saml:Issuer", namespaces=NSMAP) or "").strip() != issuer:
        raise AssertionRejected("issuer", "The signed issuer differs from the claimed one.")
    audiences = {(a.text or "").strip() for a in signed.iterfind(
        "saml:Conditions/saml:AudienceRestriction/saml:Audience", NSMAP)}
    if audiences and audience not in audiences:
        raise AssertionRejected("audience", "The assertion is meant for another audience.")
    confirmation = signed.find("saml:Subject/saml:SubjectConfirmation", NSMAP)
    data = None if confirmation is None else confirmation.find("saml:SubjectConfirmationData",
                                                               NSMAP)
    if confirmation is None or confirmation.get("Method") != BEARER or data is None:
        raise AssertionRejected("malformed", "The assertion has no bearer confirmation.")
    if data.get("Recipient") != recipient:
        raise AssertionRejected("recipient", "The assertion is meant for another recipient.")
    expiry = _check_window(signed, now, skew)
    name_id = (signed.findtext("saml:Subject/saml:NameID", namespaces=NSMAP) or "").strip()
    return VerifiedAssertion(id=signed.get("ID"), issuer=issuer, name_id=name_id,
                             not_on_or_after=expiry, attributes=_attributes(signed))


class ReplayGuard:
    """Assertion ids already used, remembered until the assertion would have expired anyway."""

    def __init__(self, skew: dt.timedelta = CLOCK_SKEW) -> None:
        self._seen: dict[str, dt.datetime] = {}
        self._skew = skew

    def use(self, assertion: VerifiedAssertion, now: dt.datetime | None = None) -> None:
        """Accept an assertion once; a second use raises ``AssertionRejected("replayed")``."""
        now = now or utcnow()
        self._seen = {k: t for k, t in self._seen.items() if t + self._skew > now}
        key = f"{assertion.issuer} {assertion.id}"
        if key in self._seen:
            raise AssertionRejected("replayed", "The assertion has already been used.")
        self._seen[key] = assertion.not_on_or_after
