"""A Keystone IdP's signed SAML2 assertion, and the checks a K2K service provider makes on it."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from ocx.sim import saml
from ocx.sim.saml import NSMAP, AssertionRejected, Claims

IDP = "http://idp.example:5000/v3/OS-FEDERATION/saml2/idp"
SP_URL = "http://sp.example:5000/Shibboleth.sso/SAML2/ECP"
CLAIMS = Claims(user="demo", user_domain="Default", roles=("member", "reader"), project="demo",
                project_domain="Default",
                groups=('JSON:{"name":"staff","domain":{"name":"Default"}}',))


@pytest.fixture(scope="module")
def idp_identity() -> saml.SigningIdentity:
    return saml.make_signing_identity("idp.example")


@pytest.fixture(scope="module")
def attacker_identity() -> saml.SigningIdentity:
    return saml.make_signing_identity("idp.example")  # same name, different key


def issue(identity, *, now=None, audience=SP_URL, recipient=SP_URL, issuer=IDP,
          claims=CLAIMS) -> bytes:
    """What the IdP's ``/v3/auth/OS-FEDERATION/saml2/ecp`` answers."""
    response = saml.build_response(claims, issuer=issuer, recipient=recipient, audience=audience,
                                   identity=identity, now=now)
    return saml.ecp_envelope(response, consumer_url=SP_URL)


def accept(document, identity, **kwargs) -> saml.VerifiedAssertion:
    """What the SP's ECP endpoint does with it."""
    return saml.verify_response(document, trusted={IDP: identity.cert_pem}, audience=SP_URL,
                                recipient=SP_URL, **kwargs)


def rejected(document, identity, **kwargs) -> str:
    with pytest.raises(AssertionRejected) as info:
        accept(document, identity, **kwargs)
    return info.value.reason


def edit(document: bytes, change) -> bytes:
    root = etree.fromstring(document)
    change(root)
    return etree.tostring(root)


def attribute_values(root, name):
    return root.findall(f".//saml:Attribute[@Name='{name}']/saml:AttributeValue", NSMAP)


# -- what the IdP sends ---------------------------------------------------------------------------


def test_envelope_is_the_ecp_soap_message_keystone_sends(idp_identity):
    root = etree.fromstring(issue(idp_identity))
    assert root.tag == f"{{{saml.NS_SOAP}}}Envelope"
    relay = root.find("soap11:Header/ecp:RelayState", NSMAP)
    assert relay.text.startswith("ss:mem:")
    assert relay.get(f"{{{saml.NS_SOAP}}}mustUnderstand") == "1"
    assert root.find("soap11:Header/ecp:Response", NSMAP).get(
        "AssertionConsumerServiceURL") == SP_URL

    response = root.find("soap11:Body/samlp:Response", NSMAP)
    assert response.get("Destination") == SP_URL
    assert response.find("samlp:Status/samlp:StatusCode", NSMAP).get(
        "Value") == saml.STATUS_SUCCESS
    assertion = response.find("saml:Assertion", NSMAP)
    children = [etree.QName(c).localname for c in assertion]
    assert children == ["Issuer", "Signature", "Subject", "Conditions", "AuthnStatement",
                        "AttributeStatement"]
    assert assertion.findtext("saml:Subject/saml:NameID", namespaces=NSMAP) == "demo"
    confirmation = assertion.find("saml:Subject/saml:SubjectConfirmation", NSMAP)
    assert confirmation.get("Method") == saml.BEARER
    assert confirmation.find("saml:SubjectConfirmationData", NSMAP).get("Recipient") == SP_URL
    assert assertion.findtext("saml:Conditions/saml:AudienceRestriction/saml:Audience",
                              namespaces=NSMAP) == SP_URL
    assert [v.text for v in attribute_values(assertion, "openstack_roles")] == ["member",
                                                                               "reader"]
    signature = assertion.find("ds:Signature", NSMAP)
    assert signature.find("ds:SignedInfo/ds:SignatureMethod", NSMAP).get("Algorithm").endswith(
        "rsa-sha256")
    assert signature.find("ds:SignedInfo/ds:Reference", NSMAP).get(
        "URI") == "#" + assertion.get("ID")


def test_a_signed_assertion_is_accepted_with_its_attributes(idp_identity):
    verified = accept(issue(idp_identity), idp_identity)
    assert verified.issuer == IDP
    assert verified.name_id == "demo"
    assert verified.attributes == {
        "openstack_user": ("demo",), "openstack_roles": ("member", "reader"),
        "openstack_project": ("demo",), "openstack_project_domain": ("Default",),
        "openstack_user_domain": ("Default",),
        "openstack_groups": ('JSON:{"name":"staff","domain":{"name":"Default"}}',)}


def test_the_bare_response_of_the_saml2_endpoint_is_accepted_too(idp_identity):
    response = saml.build_response(CLAIMS, issuer=IDP, recipient=SP_URL, audience=SP_URL,
                                   identity=idp_identity)
    assert accept(response, idp_identity).name_id == "demo"


def test_a_small_clock_difference_is_tolerated(idp_identity):
    ahead = saml.utcnow() + dt.timedelta(seconds=60)
    assert accept(issue(idp_identity, now=ahead), idp_identity).name_id == "demo"


# -- what the SP refuses --------------------------------------------------------------------------


def test_an_assertion_signed_by_another_key_is_refused(idp_identity, attacker_identity):
    assert rejected(issue(attacker_identity), idp_identity) == "signature"


def test_an_assertion_changed_after_signing_is_refused(idp_identity):
    def promote(root):
        attribute_values(root, "openstack_roles")[0].text = "admin"

    assert rejected(edit(issue(idp_identity), promote), idp_identity) == "signature"


def test_an_assertion_changed_and_re_signed_by_an_untrusted_key_is_refused(
        idp_identity, attacker_identity):
    root = etree.fromstring(issue(idp_identity))
    assertion = root.find(".//saml:Assertion", NSMAP)
    attribute_values(assertion, "openstack_roles")[0].text = "admin"
    old_signature = assertion.find("ds:Signature", NSMAP)
    placeholder = etree.Element(f"{{{saml.NS_DS}}}Signature", Id="placeholder")
    assertion.replace(old_signature, placeholder)
    resigned = saml.sign_assertion(assertion, attacker_identity)
    assertion.getparent().replace(assertion, resigned)
    assert rejected(etree.tostring(root), idp_identity) == "signature"


def test_an_unsigned_assertion_is_refused(idp_identity):
    def strip(root):
        signature = root.find(".//ds:Signature", NSMAP)
        signature.getparent().remove(signature)

    assert rejected(edit(issue(idp_identity), strip), idp_identity) == "signature"


def test_an_assertion_from_an_unknown_issuer_is_refused(idp_identity):
    document = issue(idp_identity, issuer="http://rogue.example/idp")
    assert rejected(document, idp_identity) == "issuer"


def test_an_expired_assertion_is_refused(idp_identity):
    two_hours_ago = saml.utcnow() - dt.timedelta(hours=2)
    assert rejected(issue(idp_identity, now=two_hours_ago), idp_identity) == "expired"


def test_an_assertion_from_the_future_is_refused(idp_identity):
    later = saml.utcnow() + dt.timedelta(hours=1)
    assert rejected(issue(idp_identity, now=later), idp_identity) == "not_yet_valid"


def test_an_assertion_for_another_audience_is_refused(idp_identity):
    document = issue(idp_identity, audience="http://other.example/Shibboleth.sso/SAML2/ECP")
    assert rejected(document, idp_identity) == "audience"


def test_an_assertion_for_another_recipient_is_refused(idp_identity):
    document = issue(idp_identity, recipient="http://other.example/Shibboleth.sso/SAML2/ECP")
    assert rejected(document, idp_identity) == "recipient"


def test_an_assertion_is_accepted_once_only(idp_identity):
    document = issue(idp_identity)
    guard = saml.ReplayGuard()
    guard.use(accept(document, idp_identity))
    with pytest.raises(AssertionRejected) as info:
        guard.use(accept(document, idp_identity))
    assert info.value.reason == "replayed"
    guard.use(accept(issue(idp_identity), idp_identity))  # a fresh assertion is fine


def test_used_ids_are_forgotten_once_the_assertion_has_expired_anyway(idp_identity):
    guard = saml.ReplayGuard()
    verified = accept(issue(idp_identity), idp_identity)
    guard.use(verified)
    later = verified.not_on_or_after + dt.timedelta(hours=1)
    guard.use(accept(issue(idp_identity), idp_identity), now=later)
    assert len(guard._seen) == 1


def test_a_second_unsigned_assertion_smuggled_in_is_refused(idp_identity):
    def wrap(root):
        response = root.find(".//samlp:Response", NSMAP)
        evil = etree.fromstring(etree.tostring(response.find("saml:Assertion", NSMAP)))
        evil.set("ID", "_evil")
        evil.remove(evil.find("ds:Signature", NSMAP))
        attribute_values(evil, "openstack_user")[0].text = "admin"
        response.insert(0, evil)

    assert rejected(edit(issue(idp_identity), wrap), idp_identity) == "malformed"


def test_a_failed_status_is_refused(idp_identity):
    def fail(root):
        root.find(".//samlp:StatusCode", NSMAP).set(
            "Value", "urn:oasis:names:tc:SAML:2.0:status:Responder")

    assert rejected(edit(issue(idp_identity), fail), idp_identity) == "status"


@pytest.mark.parametrize("document", [
    b"", b"not xml at all", b"<soap11:Envelope", b"<html><body>hello</body></html>",
    b'<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body/></Envelope>',
])
def test_malformed_messages_are_refused(idp_identity, document):
    assert rejected(document, idp_identity) == "malformed"


def test_external_entities_are_never_resolved(idp_identity, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    document = issue(idp_identity).replace(
        b"<?xml version='1.0' encoding='UTF-8'?>",
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'.encode())
    document = document.replace(b">demo</saml:NameID>", b">&x;</saml:NameID>")
    with pytest.raises(AssertionRejected) as info:
        accept(document, idp_identity)
    assert info.value.reason == "malformed"
    assert "top secret" not in str(info.value)


def test_entity_expansion_bombs_are_refused(idp_identity):
    bomb = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
            b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
            b'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&lol3;'
            b'</samlp:Response>')
    assert rejected(bomb, idp_identity) == "malformed"


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["openstack_user", "openstack_roles", "openstack_project",
                             "openstack_project_domain", "openstack_user_domain"]),
       value=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                     min_size=1, max_size=20))
def test_any_change_to_a_signed_attribute_is_refused(idp_identity, name, value):
    original = accept(issue(idp_identity), idp_identity).attributes[name][0]
    if value.strip() == original:
        return

    def change(root):
        attribute_values(root, name)[0].text = value

    assert rejected(edit(issue(idp_identity), change), idp_identity) == "signature"


def test_idp_metadata_names_the_entity_and_its_signing_certificate(idp_identity):
    root = etree.fromstring(saml.idp_metadata(IDP, idp_identity.cert_pem,
                                              sso_url="http://idp.example:5000/v3/sso"))
    assert root.get("entityID") == IDP
    cert = root.findtext(".//ds:X509Certificate", namespaces=NSMAP)
    assert cert == "".join(idp_identity.cert_pem.splitlines()[1:-1])
    descriptor = root.find(f"{{{saml.NS_MD}}}IDPSSODescriptor")
    assert descriptor.find(f"{{{saml.NS_MD}}}KeyDescriptor").get("use") == "signing"
