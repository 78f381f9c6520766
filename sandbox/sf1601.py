"""Serviceplatformen as the sandbox plays it: the token service, the access
token exchange, KombiPostAfsend (kombi) and PostForespoerg.

Every route asks for the client certificate that the TLS port checked
against the sandbox's test authority (sandbox/ca.py; serve_tls() below puts
it in the WSGI environ): without one, or with a token bound to another
certificate, the answer is 401, as on the real port. Tokens are sealed with
the sandbox's key and expire; bumping SANDBOX_TOKEN_EPOCH makes every token
handed out so far invalid, as a test expiring one mid-round needs.
"""

import base64
import hashlib
import json
import ssl
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from flask import Blueprint, Response, current_app, jsonify, request
from lxml import etree
from sqlalchemy.exc import IntegrityError
from werkzeug.serving import WSGIRequestHandler, make_server

from digitalpost.identifiers import InvalidCPR, normalize_cpr
from sandbox.memo_rules import MemoRefused, check
from sandbox.models import DeliveredMessage, PrintedLetter, db

bp = Blueprint("sf1601", __name__)
ENTITIES = {
    "http://entityid.kombit.dk/service/kombipostafsend/1": "send",
    "http://entityid.kombit.dk/service/postforespoerg/1": "lookup",
}
CHOICES = ("Digital Post", "Automatisk Valg", "Fysisk Post", "NemSMS")
FJERNPRINT = "{urn:oio:fjernprint:3.0.0}"
DKAL = "{urn:oio:dkal:1.0.0}"
POST_CATEGORIES = ("Prioritaire", "Economique")


# --- the client certificate ---------------------------------------------------


def client_certificate() -> x509.Certificate | None:
    der = request.environ.get("SSL_CLIENT_CERT")
    return x509.load_der_x509_certificate(der) if der else None


def fingerprint(certificate: x509.Certificate) -> str:
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def cvr_of(certificate: x509.Certificate) -> str | None:
    for attribute in certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER):
        if str(attribute.value).upper().startswith("NTRDK-"):
            return str(attribute.value)[6:]
    return None


# --- tokens -------------------------------------------------------------------


def _fernet() -> Fernet:
    return Fernet(current_app.config["SANDBOX_MAILBOX_KEY"].encode())


def _seal(claims: dict, lifetime: int) -> str:
    claims = {**claims, "exp": time.time() + lifetime, "epoch": current_app.config["SANDBOX_TOKEN_EPOCH"]}
    return _fernet().encrypt(json.dumps(claims).encode()).decode()


def _open(token: str, kind: str, certificate: x509.Certificate) -> dict | None:
    try:
        claims = json.loads(_fernet().decrypt(token.encode()))
    except (InvalidToken, ValueError):
        return None
    fresh = claims.get("exp", 0) > time.time() and claims.get("epoch") == current_app.config["SANDBOX_TOKEN_EPOCH"]
    if claims.get("kind") != kind or not fresh or claims.get("holder") != fingerprint(certificate):
        return None  # expired, or held by another certificate (holder-of-key)
    return claims


def unauthorized(reason: str):
    return jsonify({"error": "unauthorized", "detail": reason}), 401


@bp.before_request
def require_certificate():
    if client_certificate() is None:
        return unauthorized("mutual TLS with a system certificate is required")
    current_app.extensions["sf1601_calls"].append(
        (request.path, request.headers.get("x-TransaktionsId"), request.headers.get("x-TransaktionsTid"))
    )


@bp.post("/runtime/api/rest/wstrust/v1/issue")
def issue():
    """Step 1: a SAML token for one service, to the certificate presented."""
    certificate = client_certificate()
    data = request.get_json(silent=True) or {}
    use_key = str(data.get("UseKey") or "")
    entity = ((data.get("AppliesTo") or {}).get("EndpointReference") or {}).get("Address")
    cvr = str((data.get("AnvenderKontekst") or {}).get("Cvr") or "")
    der = certificate.public_bytes(serialization.Encoding.DER)
    if base64.b64decode(use_key or "=", validate=False) != der:
        return jsonify({"error": "invalid_request", "detail": "UseKey is not the certificate presented"}), 400
    if entity not in ENTITIES:
        return jsonify({"error": "invalid_request", "detail": "AppliesTo names no service"}), 400
    if cvr != cvr_of(certificate) or cvr not in current_app.config["SANDBOX_SF1601_AGREEMENTS"]:
        return jsonify({"error": "not_authorized", "detail": "no service agreement for this CVR"}), 403
    lifetime = current_app.config["SANDBOX_SAML_LIFETIME"]
    token = _seal({"kind": "saml", "holder": fingerprint(certificate), "cvr": cvr, "entity": entity}, lifetime)
    expires = datetime.now(timezone.utc) + timedelta(seconds=lifetime)
    return jsonify(
        {
            "RequestedSecurityToken": {"Assertion": base64.b64encode(token.encode()).decode()},
            "Lifetime": expires.strftime("%m/%d/%Y %H:%M:%S"),
            "TokenType": "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0",
        }
    )


@bp.post("/service/AccessTokenService_1/token")
def access_token():
    """Step 2: an access token for a SAML token, bound to the same certificate."""
    try:
        saml = base64.b64decode(request.form.get("saml-token", ""), validate=True).decode()
    except ValueError:
        return unauthorized("saml-token is not a token")
    claims = _open(saml, "saml", client_certificate())
    if claims is None:
        return unauthorized("the SAML token has expired or belongs to another certificate")
    lifetime = current_app.config["SANDBOX_ACCESS_TOKEN_LIFETIME"]
    token = _seal({**claims, "kind": "access"}, lifetime)
    return jsonify({"access_token": token, "token_type": "Holder-of-key", "expires_in": lifetime})


def authorized(entity_kind: str) -> dict | Response | tuple:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    claims = _open(token, "access", client_certificate()) if scheme == "Holder-of-key" else None
    if claims is None or ENTITIES.get(claims.get("entity")) != entity_kind:
        return unauthorized("the access token has expired, belongs to another certificate or another service")
    transaction = request.headers.get("x-TransaktionsId", "")
    moment = request.headers.get("x-TransaktionsTid", "")
    try:
        uuid.UUID(transaction)
        valid_time = moment.endswith("Z") and datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        valid_time = False
    if not valid_time:
        return kombi_error(400, "invalid_request", "x-TransaktionsId (a UUID) and x-TransaktionsTid (UTC) are required")
    return claims


def kombi_error(status: int, code: str, text: str):
    root = etree.Element("kombi_response")
    etree.SubElement(root, "Resultat").text = "false"
    etree.SubElement(root, "FejlKode").text = code
    etree.SubElement(root, "FejlTekst").text = text
    return Response(etree.tostring(root, encoding="UTF-8"), status=status, content_type="application/xml")


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@bp.post("/service/KombiPostAfsend_1/kombi")
def kombi():
    claims = authorized("send")
    if not isinstance(claims, dict):
        return claims
    cfg = current_app.config
    try:
        root = etree.fromstring(request.get_data(), _PARSER)
    except etree.XMLSyntaxError as exc:
        return kombi_error(400, "invalid_request", f"not well-formed XML: {exc.msg}")
    choice = root.findtext("KombiValgKode") if root.tag == "kombi_request" else None
    memo = root.find("{https://DigitalPost.dk/MeMo-1}Message") if root.tag == "kombi_request" else None
    if choice not in CHOICES or memo is None:
        return kombi_error(400, "invalid_request", "a kombi_request with a KombiValgKode and a memo:Message")
    try:
        letter = check(etree.tostring(memo), allow_loopback_http=cfg["SANDBOX_ALLOW_LOOPBACK_HTTP"])
    except MemoRefused as exc:
        return kombi_error(400, "invalid_memo", exc.detail)
    if letter.sender_cvr != claims["cvr"]:
        return kombi_error(403, "sender_not_authorized", "the sender is not the certificate's organization")
    if db.session.get(DeliveredMessage, letter.message_uuid) or db.session.get(PrintedLetter, letter.message_uuid):
        # Nothing public says NgDP replays a repeated messageUUID: the sandbox refuses it.
        return kombi_error(409, "duplicate_message_uuid", "this messageUUID was sent before")
    if choice == "NemSMS":
        return kombi_error(400, "invalid_request", "the sandbox sends no NemSMS")
    printed = root.find(FJERNPRINT + "ForsendelseI")
    problem = print_problem(printed, letter) if printed is not None else None
    if problem:
        return kombi_error(400, "invalid_request", problem)
    if letter.recipient_cpr in cfg["SANDBOX_UNKNOWN_CPRS"]:
        return kombi_error(400, "recipient_not_found", "no such CPR number")
    exempt = letter.recipient_cpr in cfg["SANDBOX_EXEMPT_CPRS"]
    on_paper = choice == "Fysisk Post" or (choice == "Automatisk Valg" and exempt)
    if on_paper and printed is None:
        if exempt:
            return kombi_error(400, "recipient_exempt", "the recipient is exempt and no ForsendelseI was given")
        return kombi_error(400, "invalid_request", "Fysisk Post needs a ForsendelseI with the PDF")
    if exempt and not on_paper:
        return kombi_error(400, "recipient_exempt", "the recipient is exempt from Digital Post")
    if on_paper:
        db.session.add(printed_letter(printed, letter))
    else:
        sender = hashlib.sha256(f"sf1601:{claims['cvr']}".encode()).hexdigest()
        db.session.add(DeliveredMessage.of_letter(letter, sender, cfg["SANDBOX_DELIVERY_DELAY_MS"]))
    try:
        db.session.commit()
    except IntegrityError:  # the same messageUUID twice at once
        db.session.rollback()
        return kombi_error(409, "duplicate_message_uuid", "this messageUUID was sent before")
    failure = None
    if letter.recipient_cpr in cfg["SANDBOX_RECEIPT_FAIL_CPRS"]:
        failure = ("PRINT_FAILED" if on_paper else "DELIVERY_FAILED", "The letter could not be delivered")
    current_app.extensions["receipt_pusher"].letter_taken(letter.message_uuid, on_paper, failure)
    answer = etree.Element("kombi_response")
    etree.SubElement(answer, "Resultat").text = "true"
    etree.SubElement(answer, "TransmissionId").text = str(uuid.uuid4())
    return Response(etree.tostring(answer, encoding="UTF-8"), status=200, content_type="application/xml")


def print_problem(part, letter) -> str | None:
    """Why fjernprint would refuse the ForsendelseI, or None."""
    type_id = part.findtext(FJERNPRINT + "ForsendelseTypeIdentifikator") or ""
    if not (type_id.isascii() and type_id.isdigit() and int(type_id) > 0):
        return "ForsendelseTypeIdentifikator must be a positive integer"
    cpr = part.findtext(f"{FJERNPRINT}ForsendelseModtager/{DKAL}AfsendelseModtager/{DKAL}CPRnummerIdentifikator")
    if cpr != letter.recipient_cpr:
        return "ForsendelseModtager is not the letter's recipient"
    if part.findtext(FJERNPRINT + "FilformatNavn") != "PDF":
        return "FilformatNavn must be PDF"
    try:
        pdf = base64.b64decode(part.findtext(FJERNPRINT + "MeddelelseIndholdData") or "", validate=True)
    except ValueError:
        return "MeddelelseIndholdData is not base64"
    if not pdf.startswith(b"%PDF-") or b"%%EOF" not in pdf[-64:]:
        return "MeddelelseIndholdData is not a PDF"
    if part.findtext(f"{FJERNPRINT}PostParametre/{FJERNPRINT}PostKategoriKode") not in POST_CATEGORIES:
        return "PostKategoriKode must be Prioritaire or Economique"
    if not (part.findtext(FJERNPRINT + "AfsendelseIdentifikator") or "").strip():
        return "AfsendelseIdentifikator is required"
    return None


def printed_letter(part, letter) -> PrintedLetter:
    return PrintedLetter(
        message_uuid=letter.message_uuid,
        sender_cvr=letter.sender_cvr,
        sender_name=letter.sender_name,
        recipient_cpr=letter.recipient_cpr,
        title=(part.findtext(f"{FJERNPRINT}DokumentParametre/{FJERNPRINT}TitelTekst") or letter.label)[:256],
        print_type=int(part.findtext(FJERNPRINT + "ForsendelseTypeIdentifikator")),
        post_category=part.findtext(f"{FJERNPRINT}PostParametre/{FJERNPRINT}PostKategoriKode"),
        pdf=base64.b64decode(part.findtext(FJERNPRINT + "MeddelelseIndholdData")),
        received_at=datetime.now(timezone.utc).replace(tzinfo=None),
    )


@bp.get("/service/PostForespoerg_1/digitalpost")
def lookup():
    claims = authorized("lookup")
    if not isinstance(claims, dict):
        return claims
    try:
        cpr = normalize_cpr(request.args.get("cprNumber", ""))
    except InvalidCPR:
        return jsonify({"error": "invalid_request"}), 400
    if cpr in current_app.config["SANDBOX_UNKNOWN_CPRS"]:
        return jsonify({"error": "not_found"}), 404
    return jsonify({"result": cpr not in current_app.config["SANDBOX_EXEMPT_CPRS"]})


# --- the TLS port ---------------------------------------------------------------


class ClientCertificateHandler(WSGIRequestHandler):
    """Werkzeug's handler, with the client certificate in the environ, and
    an access log without query strings: PostForespoerg, as the real one,
    takes the CPR number in its query."""

    def log_request(self, code="-", size="-"):
        path, line = self.path, self.requestline
        self.path, self.requestline = path.split("?", 1)[0], line.split("?", 1)[0]
        try:
            super().log_request(code, size)
        finally:
            self.path, self.requestline = path, line

    def make_environ(self):
        environ = super().make_environ()
        peer = self.connection.getpeercert(binary_form=True) if hasattr(self.connection, "getpeercert") else None
        if peer:
            environ["SSL_CLIENT_CERT"] = peer
        return environ


def serve_tls(app, authority, host: str = "127.0.0.1", port: int = 0, folder=None):
    """Serve the sandbox on a TLS port that asks for a client certificate from
    the test authority. Returns (url, stop)."""
    certificate_pem, key_pem = authority.server_certificate(host)
    folder = Path(folder or tempfile.mkdtemp(prefix="postbud-sf1601-"))
    (folder / "server.pem").write_bytes(key_pem + certificate_pem)
    (folder / "ca.pem").write_bytes(authority.pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(folder / "server.pem"))
    context.load_verify_locations(str(folder / "ca.pem"))
    context.verify_mode = ssl.CERT_REQUIRED
    server = make_server(host, port, app, threaded=True, ssl_context=context, request_handler=ClientCertificateHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return f"https://{host}:{server.server_port}", server.shutdown
