"""What Digital Post refuses, written out: MeMo 1.1's schema and NgDP's rules.

The sandbox may not ship the official schema files, so their rules are here as
code: every element of MeMo_core.xsd and the schemas it imports, with its
content model (order, how often, choices), its simple type (lengths, the UUID
pattern, dateTime ending in Z, booleans, base64, URIs) and the attributes the
root requires. On top come the rules NgDP adds to the schema, listed in
NGDP_RULES. check() answers a letter the mailbox can show, or raises
MemoRefused with the reason, which the gateway answers as 400 invalid_memo.

tests/test_sandbox_strict.py holds this module to the official schema.
"""

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from lxml import etree

from digitalpost.identifiers import InvalidCPR, normalize_cpr
from digitalpost.memo import ActionCode, url_problem

MEMO = "https://DigitalPost.dk/MeMo-1"
GRD = "https://data.gov.dk/model/core/"
KLE = "http://kle-online.dk/"
FORM = "http://www.form-online.dk/"
DMV = "https://motorregister.skat.dk/"
SOR = "https://services.nsi.dk/en/Services/SOR"
GLN = "https://www.gs1.dk/gs1-standarder/identifikation/gln-global-location-number/"
UDD = "https://www.dst.dk/da/TilSalg/Forskningsservice/Dokumentation/hoejkvalitetsvariable/elevregister-2/udd#"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
PREFIXES = {"memo": MEMO, "grd": GRD, "kle": KLE, "form": FORM, "dmv": DMV, "sor": SOR, "gln": GLN, "udd": UDD}

# File types NgDP shows in a mailbox (the agency's list of allowed formats,
# the ones a survey platform could send).
ALLOWED_FILE_TYPES = ("text/plain", "text/html", "application/pdf", "image/jpeg", "image/png", "image/tiff")
NGDP_RULES = (
    "the memo: prefix on the MeMo namespace (Serviceplatformen takes no default namespace)",
    "memoVersion 1.1 with memoSchVersion 1.1.0",
    "messageType DIGITALPOST, Sender idType CVR, Recipient idType CPR with a valid CPR number",
    "action URLs absolute https:// (http:// to a loopback host only in development)",
    "actionCode from AFTALE, BEKRAEFT, BETALING, FORBEREDELSE, INFORMATION, SELVBETJENING, TILMELDING, UNDERSKRIV",
    'file names without <>:"/\\|?*',
    "file types on the allowed list; text in UTF-8, a PDF that is a PDF",
)


class MemoRefused(ValueError):
    def __init__(self, detail: str):
        self.detail = detail
        super().__init__(detail)


# --- simple types (MeMo_dataTypes.xsd and the XSD built-ins it uses) ----------

_WS = re.compile(r"[ \t\n\r]+")


def _collapse(text: str) -> str:
    return _WS.sub(" ", text).strip(" ")


def memo_text(max_length: int = 256):
    def check(text: str) -> str | None:
        return f"is longer than {max_length} characters" if len(text) > max_length else None

    return check


MEMO_TEXT = memo_text(256)
MEMO_COMMENT = memo_text(512)
MEMO_NOTIFICATION = memo_text(150)
MEMO_LICENSE = memo_text(7)
_UUID = re.compile(r"[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-4[a-fA-F0-9]{3}-[aAbB89][a-fA-F0-9]{3}-[a-fA-F0-9]{12}")
# xs:dateTime's lexical space; memoDateTimeType also asks for a final Z.
_DATETIME = re.compile(
    r"-?([0-9]{4,})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?"
)
_DATE = re.compile(r"-?([0-9]{4,})-([0-9]{2})-([0-9]{2})(Z|[+-][0-9]{2}:[0-9]{2})?")
_LANGUAGE = re.compile(r"[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*")
_BASE64 = re.compile(
    r"(([A-Za-z0-9+/] ?){4})*(([A-Za-z0-9+/] ?){3}[A-Za-z0-9+/]|([A-Za-z0-9+/] ?){2}[AEIMQUYcgkosw048] ?=|[A-Za-z0-9+/] ?[AQgw] ?= ?=)?"
)


def memo_uuid(text: str) -> str | None:
    return None if _UUID.fullmatch(text) else "is not a version 4 UUID"


def _real_date(year: str, month: str, day: str) -> bool:
    try:
        datetime(int(year) if 0 < int(year) < 10000 else 2000, int(month), int(day))
    except ValueError:
        return False
    return int(year) != 0


def memo_datetime(text: str) -> str | None:
    match = _DATETIME.fullmatch(_collapse(text))
    if not match:
        return "is not a date and time (xs:dateTime)"
    year, month, day, hour, minute, second = match.group(1, 2, 3, 4, 5, 6)
    if not _real_date(year, month, day):
        return "is not a real date"
    midnight = (hour, minute, second) == ("24", "00", "00") and not (match.group(7) or "").strip(".0")
    if not (int(hour) < 24 or midnight) or int(minute) > 59 or int(second) > 59:
        return "is not a real time"
    zone = match.group(8)
    if zone and zone not in ("Z",) and not (int(zone[1:3]) <= 14 and int(zone[4:6]) <= 59):
        return "has a time zone out of range"
    if not _collapse(text).endswith("Z"):
        return "must be in UTC, ending in Z"
    return None


def xs_date(text: str) -> str | None:
    match = _DATE.fullmatch(_collapse(text))
    if not match or not _real_date(*match.group(1, 2, 3)):
        return "is not a date (xs:date)"
    return None


def xs_boolean(text: str) -> str | None:
    return None if _collapse(text) in ("true", "false", "1", "0") else "must be true or false"


def xs_base64(text: str) -> str | None:
    return None if _BASE64.fullmatch(_collapse(text)) else "is not base64"


def memo_language(text: str) -> str | None:
    value = _collapse(text)
    if not _LANGUAGE.fullmatch(value):
        return "is not a language code"
    return "is longer than 2 characters" if len(value) > 2 else None


def memo_uri(text: str) -> str | None:
    value = _collapse(text)
    if len(value) > 256:
        return "is longer than 256 characters"
    return None


def memo_message_type(text: str) -> str | None:
    return None if text in ("DIGITALPOST", "NEMSMS") else "must be DIGITALPOST or NEMSMS"


def xs_long(maximum: int):
    def check(text: str) -> str | None:
        value = _collapse(text)
        if not re.fullmatch(r"[+-]?[0-9]+", value):
            return "is not a whole number"
        number = int(value)
        if not -(2**63) <= number <= min(maximum, 2**63 - 1):
            return f"is above {maximum}" if number > maximum else "is out of range"
        return None

    return check


def xs_decimal(text: str) -> str | None:
    value = _collapse(text)
    if not re.fullmatch(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)", value):
        return "is not a decimal number"
    return None


# --- content models -------------------------------------------------------------


@dataclass(frozen=True)
class El:
    """An element in a content model: qualified name, simple type (a checker)
    or complex type (the name of a COMPLEX entry), and how often."""

    name: str
    type: object
    min: int = 1
    max: float = 1


@dataclass(frozen=True)
class Seq:
    parts: tuple
    min: int = 1
    max: float = 1


@dataclass(frozen=True)
class Choice:
    options: tuple
    min: int = 1
    max: float = 1


UNBOUNDED = float("inf")


def q(name: str) -> str:
    prefix, _, local = name.partition(":")
    return f"{{{PREFIXES[prefix]}}}{local}"


def el(name, kind=None, min=1, max=1):
    return El(q(name), kind if kind is not None else q(name), min, max)


def seq(*parts, min=1, max=1):
    return Seq(tuple(parts), min, max)


def _text_elements(prefix: str, kinds: dict[str, object]) -> dict:
    return {q(f"{prefix}:{name}"): kind for name, kind in kinds.items()}


T = MEMO_TEXT
# Global elements of the imported schemas with a simple type, by name.
SIMPLE = {
    **_text_elements(
        "grd",
        dict.fromkeys(
            "id addressLabel houseNumber door floor co zipCode city country geographicEastingMeasure "
            "geographicNorthingMeasure geographicHeightMeasure unstructured cprNumber name cvrNumber "
            "companyName eID label productionUnitName seNumber propertyNumber".split(),
            T,
        ),
    ),
    q("grd:productionUnitNumber"): xs_long(9999999999),
    **_text_elements("kle", dict.fromkeys(["subjectKey", "version", "activityFacet", "label"], T)),
    **_text_elements("form", dict.fromkeys(["taskKey", "version", "activityFacet", "label"], T)),
    q("dmv:licenseNumber"): MEMO_LICENSE,
    q("dmv:chassisNumber"): T,
    q("sor:sorIdentifier"): T,
    q("sor:entryName"): T,
    q("gln:globalLocationNumber"): xs_long(9999999999999),
    q("gln:location"): T,
    q("udd:educationCode"): T,
    q("udd:educationName"): T,
}

COMPLEX = {
    q("memo:Message"): seq(el("memo:MessageHeader"), el("memo:MessageBody", min=0)),
    q("memo:MessageHeader"): seq(
        el("memo:messageType", memo_message_type),
        el("memo:messageUUID", memo_uuid),
        el("memo:messageID", T, 0),
        el("memo:messageCode", T, 0),
        el("memo:label", T),
        el("memo:notification", MEMO_NOTIFICATION, 0),
        el("memo:additionalNotification", T, 0),
        el("memo:reply", xs_boolean, 0),
        el("memo:replyByDateTime", memo_datetime, 0),
        el("memo:doNotDeliverUntilDate", xs_date, 0),
        el("memo:mandatory", xs_boolean),
        el("memo:legalNotification", xs_boolean),
        el("memo:postType", T, 0),
        el("memo:Sender"),
        el("memo:Recipient"),
        el("memo:ContentData", min=0),
        el("memo:ForwardData", min=0),
        el("memo:ReplyData", min=0, max=UNBOUNDED),
    ),
    q("memo:Sender"): seq(
        el("memo:senderID", T),
        el("memo:idType", T),
        el("memo:idTypeLabel", T, 0),
        el("memo:label", T),
        el("memo:AttentionData", min=0),
        el("memo:ContactPoint", min=0),
    ),
    q("memo:Recipient"): seq(
        el("memo:recipientID", T),
        el("memo:idType", T),
        el("memo:idTypeLabel", T, 0),
        el("memo:label", T, 0),
        el("memo:AttentionData", min=0),
        el("memo:ContactPoint", min=0),
    ),
    q("memo:File"): seq(
        el("memo:encodingFormat", T),
        el("memo:filename", T),
        el("memo:language", memo_language),
        el("memo:content", xs_base64),
    ),
    q("memo:EMail"): seq(el("memo:emailAddress", T), el("memo:relatedAgent", T, 0)),
    q("memo:Telephone"): seq(el("memo:telephoneNumber", T), el("memo:relatedAgent", T, 0)),
    q("memo:Action"): seq(
        el("memo:label", T),
        el("memo:actionCode", T),
        Choice(
            (
                seq(
                    el("memo:startDateTime", memo_datetime, 0),
                    el("memo:endDateTime", memo_datetime, 0),
                    Choice((el("memo:Reservation", min=0), el("memo:EntryPoint", min=0))),
                ),
            )
        ),
    ),
    q("memo:CaseID"): seq(el("memo:caseID", T), el("memo:caseSystem", T)),
    q("memo:ForwardData"): seq(
        el("memo:messageUUID", memo_uuid),
        el("memo:originalMessageDateTime", memo_datetime),
        el("memo:originalSender", T),
        el("memo:originalContentResponsible", T, 0),
        el("memo:contactPointID", T, 0),
        el("memo:comment", MEMO_COMMENT, 0),
    ),
    q("memo:ReplyData"): seq(
        el("memo:messageID", T, 0),
        el("memo:messageUUID", memo_uuid),
        el("memo:replyUUID", memo_uuid, 0),
        el("memo:senderID", T, 0),
        el("memo:recipientID", T, 0),
        el("memo:caseID", T, 0),
        el("memo:contactPointID", T, 0),
        el("memo:generatingSystemID", T, 0),
        el("memo:comment", MEMO_COMMENT, 0),
        el("memo:AdditionalReplyData", min=0, max=4),
    ),
    q("memo:EntryPoint"): seq(el("memo:url", memo_uri)),
    q("memo:ContactInfo"): seq(el("memo:label", T), el("memo:value", T)),
    q("memo:ContentData"): seq(
        el("grd:CPRdata", min=0),
        el("grd:CVRdata", min=0),
        el("dmv:MotorVehicle", min=0),
        el("grd:PropertyNumber", min=0),
        el("memo:CaseID", min=0),
        el("kle:KLEdata", min=0),
        el("form:FORMdata", min=0),
        el("grd:ProductionUnit", min=0),
        el("udd:Education", min=0),
        el("grd:Address", min=0),
        el("grd:UnstructuredAddress", min=0),
        el("memo:AdditionalContentData", min=0, max=10),
    ),
    q("memo:MessageBody"): seq(
        el("memo:createdDateTime", memo_datetime),
        el("memo:MainDocument"),
        el("memo:AdditionalDocument", min=0, max=UNBOUNDED),
        el("memo:TechnicalDocument", min=0, max=UNBOUNDED),
    ),
    q("memo:AdditionalContentData"): seq(
        el("memo:contentDataType", T, 0), el("memo:contentDataName", T), el("memo:contentDataValue", T)
    ),
    q("memo:Reservation"): seq(
        el("memo:description", T),
        el("memo:reservationUUID", memo_uuid),
        el("memo:abstract", T),
        el("memo:location", T),
        el("memo:startDateTime", memo_datetime),
        el("memo:endDateTime", memo_datetime),
        el("memo:organizerMail", T, 0),
        el("memo:organizerName", T, 0),
    ),
    q("memo:ContactPoint"): seq(
        el("memo:contactGroup", T, 0),
        el("memo:contactPointID", T),
        el("memo:label", T, 0),
        el("memo:ContactInfo", min=0, max=2),
    ),
    q("memo:AttentionData"): seq(
        el("memo:AttentionPerson", min=0),
        el("grd:ProductionUnit", min=0),
        el("gln:GlobalLocationNumber", min=0),
        el("memo:EMail", min=0),
        el("grd:SEnumber", min=0),
        el("memo:Telephone", min=0),
        el("grd:EID", min=0),
        el("memo:ContentResponsible", min=0),
        el("memo:GeneratingSystem", min=0),
        el("sor:SORdata", min=0),
        el("grd:Address", min=0),
        el("grd:UnstructuredAddress", min=0),
    ),
    q("memo:AttentionPerson"): seq(el("memo:personID", T, 0), el("memo:label", T, 0)),
    q("memo:MainDocument"): seq(
        el("memo:mainDocumentID", T, 0),
        el("memo:label", T, 0),
        el("memo:File", max=UNBOUNDED),
        el("memo:Action", min=0, max=UNBOUNDED),
    ),
    q("memo:AdditionalDocument"): seq(
        el("memo:additionalDocumentID", T, 0),
        el("memo:label", T, 0),
        el("memo:File", max=UNBOUNDED),
        el("memo:Action", min=0, max=UNBOUNDED),
    ),
    q("memo:TechnicalDocument"): seq(
        el("memo:technicalDocumentID", T, 0), el("memo:label", T, 0), el("memo:File", max=UNBOUNDED)
    ),
    q("memo:GeneratingSystem"): seq(el("memo:generatingSystemID", T), el("memo:label", T, 0)),
    q("memo:ContentResponsible"): seq(el("memo:contentResponsibleID", T, 0), el("memo:label", T, 0)),
    q("memo:AdditionalReplyData"): seq(el("memo:label", T), el("memo:value", T)),
    q("grd:AddressPoint"): seq(
        el("grd:geographicEastingMeasure", min=0),
        el("grd:geographicNorthingMeasure", min=0),
        el("grd:geographicHeightMeasure", min=0),
    ),
    q("grd:Address"): seq(
        *(el(f"grd:{n}", min=0) for n in "id addressLabel houseNumber door floor co zipCode city country".split()),
        el("grd:AddressPoint", min=0),
    ),
    q("grd:UnstructuredAddress"): seq(el("grd:unstructured")),
    q("grd:CPRdata"): seq(el("grd:cprNumber"), el("grd:name", min=0)),
    q("grd:CVRdata"): seq(el("grd:cvrNumber"), el("grd:companyName", min=0)),
    q("grd:EID"): seq(el("grd:eID"), el("grd:label", min=0)),
    q("grd:ProductionUnit"): seq(el("grd:productionUnitNumber"), el("grd:productionUnitName", min=0)),
    q("grd:SEnumber"): seq(el("grd:seNumber"), el("grd:companyName", min=0)),
    q("grd:PropertyNumber"): seq(el("grd:propertyNumber")),
    q("kle:KLEdata"): seq(el("kle:subjectKey"), el("kle:version"), el("kle:activityFacet", min=0), el("kle:label")),
    q("form:FORMdata"): seq(el("form:taskKey"), el("form:version"), el("form:activityFacet", min=0), el("form:label")),
    q("dmv:MotorVehicle"): seq(el("dmv:licenseNumber"), el("dmv:chassisNumber", min=0)),
    q("sor:SORdata"): seq(el("sor:sorIdentifier"), el("sor:entryName", min=0)),
    q("gln:GlobalLocationNumber"): seq(el("gln:globalLocationNumber"), el("gln:location", min=0)),
    q("udd:Education"): seq(el("udd:educationCode"), el("udd:educationName", min=0)),
}


@lru_cache(maxsize=None)
def local(tag: str) -> str:
    namespace, _, name = tag[1:].partition("}")
    prefix = next((p for p, n in PREFIXES.items() if n == namespace), namespace)
    return f"{prefix}:{name}"


@lru_cache(maxsize=None)
def _firsts(particle) -> frozenset[str]:
    if isinstance(particle, El):
        return frozenset([particle.name])
    if isinstance(particle, Choice):
        return frozenset().union(*(_firsts(o) for o in particle.options))
    found = frozenset()
    for part in particle.parts:
        found |= _firsts(part)
        if not _nullable(part):
            break
    return found


@lru_cache(maxsize=None)
def _nullable(particle) -> bool:
    if particle.min == 0:
        return True
    if isinstance(particle, El):
        return False
    if isinstance(particle, Choice):
        return any(_nullable(o) for o in particle.options)
    return all(_nullable(p) for p in particle.parts)


class _Mismatch(Exception):
    def __init__(self, expected: set[str]):
        self.expected = expected


def _match(particle, children: list, i: int, path: str) -> int:
    """Match one particle from children[i]; the schema's models are
    deterministic (XSD's unique particle attribution), so the next child
    alone says which way to go. Returns the index after what matched."""
    count = 0
    while count < particle.max:
        start = i
        if isinstance(particle, El):
            if i >= len(children) or children[i].tag != particle.name:
                break
            _validate(children[i], particle.type, f"{path}/{local(particle.name)}")
            i += 1
        elif isinstance(particle, Choice):
            tag = children[i].tag if i < len(children) else None
            option = next((o for o in particle.options if tag in _firsts(o)), None)
            if option is None:
                if any(_nullable(o) for o in particle.options):
                    count += 1  # the empty branch, once
                    break
                if count >= particle.min:
                    break
                raise _Mismatch(_firsts(particle))
            i = _match(option, children, i, path)
        else:
            tag = children[i].tag if i < len(children) else None
            if count >= particle.min and tag not in _firsts(particle):
                break
            for part in particle.parts:
                i = _match(part, children, i, path)
        count += 1
        if i == start and not isinstance(particle, El):
            break
    if count < particle.min:
        raise _Mismatch(_firsts(particle))
    return i


def _validate(element, kind, path: str) -> None:
    if not isinstance(element.tag, str):
        return
    for name in element.attrib:
        if name.startswith(f"{{{XSI}}}") and name.split("}")[1] in ("schemaLocation", "noNamespaceSchemaLocation"):
            continue
        if element.tag == q("memo:Message") and name in ("memoVersion", "memoSchVersion"):
            continue
        raise MemoRefused(f"{path}: attribute {name} is not allowed")
    if callable(kind):
        if len(element):
            raise MemoRefused(f"{path} may hold text only")
        problem = kind(element.text or "")
        if problem:
            raise MemoRefused(f"{path} {problem}")
        return
    model = COMPLEX.get(kind)
    if model is None:
        kind_of_simple = SIMPLE.get(kind)
        if kind_of_simple is None:
            raise MemoRefused(f"{path} is not a MeMo element")
        return _validate(element, kind_of_simple, path)
    if (element.text or "").strip() or any((child.tail or "").strip() for child in element):
        raise MemoRefused(f"{path} may hold elements only, not text")
    children = [c for c in element if isinstance(c.tag, str)]
    try:
        end = _match(model, children, 0, path)
    except _Mismatch as exc:
        names = " or ".join(sorted(local(e) for e in exc.expected))
        raise MemoRefused(f"{path}: {names} is missing or out of order") from None
    if end < len(children):
        raise MemoRefused(f"{path}: {local(children[end].tag)} is not expected there")


# --- reading ----------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    encoding_format: str
    filename: str
    language: str
    content: bytes

    @property
    def text(self) -> str | None:
        return self.content.decode("utf-8") if self.encoding_format in ("text/plain", "text/html") else None


@dataclass(frozen=True)
class Letter:
    """A message as the mailbox shows it."""

    message_uuid: str
    sender_cvr: str
    sender_name: str
    recipient_cpr: str  # normalized: ten digits
    label: str
    created_at: str  # as written: an xs:dateTime in UTC
    documents: tuple[Document, ...]
    actions: tuple[dict, ...]  # {"label", "actionCode", "url"} (url None without an EntryPoint)

    def content_hash(self) -> str:
        """What makes two sends of one messageUUID 'the same content'."""
        return hashlib.sha256(repr(self.content_key()).encode()).hexdigest()

    def content_key(self) -> tuple:
        return (
            self.sender_cvr,
            self.sender_name,
            self.recipient_cpr,
            self.label,
            tuple((d.encoding_format, d.filename, d.language, d.content) for d in self.documents),
            tuple(tuple(sorted(a.items())) for a in self.actions),
        )


# No DTDs, no entities, no network: the parser must not be a way in.
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True, remove_pis=True
)


def schema_check(data: bytes):
    """The schema's verdict alone: the parsed root, or MemoRefused."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise MemoRefused(f"not well-formed XML: {exc.msg}") from None
    if root.getroottree().docinfo.doctype:
        raise MemoRefused("a DOCTYPE is not allowed")
    if root.tag != q("memo:Message"):
        raise MemoRefused("the root element must be memo:Message")
    for attribute, check in (("memoVersion", xs_decimal), ("memoSchVersion", MEMO_TEXT)):
        value = root.get(attribute)
        if value is None:
            raise MemoRefused(f"Message: attribute {attribute} is required")
        problem = check(value)
        if problem:
            raise MemoRefused(f"Message/@{attribute} {problem}")
    _validate(root, q("memo:Message"), "Message")
    return root


@lru_cache(maxsize=None)
def _clark(path: str) -> str:
    return "/".join(q(step) for step in path.split("/"))


def _find(parent, path: str):
    return parent.find(_clark(path))


def _value(parent, path: str) -> str:
    found = _find(parent, path)
    return _collapse(found.text or "") if found is not None else ""


def check(data: bytes, allow_loopback_http: bool = False) -> Letter:
    """The schema's rules, then NgDP's (NGDP_RULES); the letter, or MemoRefused."""
    root = schema_check(data)
    if root.prefix != "memo":
        raise MemoRefused("the MeMo namespace must carry the memo: prefix")
    try:
        version_ok = Decimal(root.get("memoVersion")) == Decimal("1.1")
    except InvalidOperation:
        version_ok = False
    if not version_ok or root.get("memoSchVersion") != "1.1.0":
        raise MemoRefused('memoVersion must be 1.1 with memoSchVersion "1.1.0"')
    header = _find(root, "memo:MessageHeader")
    if _value(header, "memo:messageType") != "DIGITALPOST":
        raise MemoRefused("messageType must be DIGITALPOST")
    if _value(header, "memo:Sender/memo:idType") != "CVR":
        raise MemoRefused("Sender/idType must be CVR")
    if _value(header, "memo:Recipient/memo:idType") != "CPR":
        raise MemoRefused("Recipient/idType must be CPR")
    try:
        cpr = normalize_cpr(_value(header, "memo:Recipient/memo:recipientID"))
    except InvalidCPR:
        raise MemoRefused("Recipient/recipientID is not a valid CPR number") from None
    body = _find(root, "memo:MessageBody")
    if body is None:
        raise MemoRefused("MessageBody is missing: a Digital Post letter needs a main document")
    documents, actions = [], []
    for part in ("memo:MainDocument", "memo:AdditionalDocument"):
        for document in body.iterfind(_clark(part)):
            for file in document.iterfind(_clark("memo:File")):
                documents.append(_document(file))
            for action in document.iterfind(_clark("memo:Action")):
                actions.append(_action(action, allow_loopback_http))
    return Letter(
        message_uuid=_value(header, "memo:messageUUID").lower(),
        sender_cvr=_value(header, "memo:Sender/memo:senderID"),
        sender_name=_find(header, "memo:Sender/memo:label").text or "",
        recipient_cpr=cpr,
        label=_find(header, "memo:label").text or "",
        created_at=_value(body, "memo:createdDateTime"),
        documents=tuple(documents),
        actions=tuple(actions),
    )


def _document(file) -> Document:
    encoding = _value(file, "memo:encodingFormat")
    filename = _find(file, "memo:filename").text or ""
    if encoding not in ALLOWED_FILE_TYPES:
        raise MemoRefused(f"File/encodingFormat {encoding!r} is not an allowed file type")
    if not filename.strip() or re.search(r'[<>:"/\\|?*\x00-\x1f]', filename):
        raise MemoRefused('File/filename may not be empty or contain <>:"/\\|?*')
    try:
        content = base64.b64decode(_WS.sub("", _find(file, "memo:content").text or ""), validate=True)
    except binascii.Error:
        raise MemoRefused("File/content is not base64") from None
    if encoding == "application/pdf" and not content.startswith(b"%PDF-"):
        raise MemoRefused("File/content is not a PDF")
    if encoding in ("text/plain", "text/html"):
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            raise MemoRefused("File/content is not UTF-8 text") from None
    return Document(encoding, filename, _value(file, "memo:language"), content)


def _action(action, allow_loopback_http: bool) -> dict:
    code = _value(action, "memo:actionCode")
    if code not in ActionCode.__members__:
        raise MemoRefused(f"Action/actionCode {code!r} is not on NgDP's list")
    url = _find(action, "memo:EntryPoint/memo:url")
    if url is not None:
        problem = url_problem(_collapse(url.text or ""), allow_loopback_http)
        if problem:
            raise MemoRefused(f"Action/EntryPoint/url: {problem}")
    return {
        "label": _find(action, "memo:label").text or "",
        "actionCode": code,
        "url": _collapse(url.text or "") if url is not None else None,
    }
