"""MeMo 1.1 messages: the XML the gateway takes, built to the official schema
(MeMo_core.xsd) and NgDP's rules on top of it.

Message.validate() refuses, naming the field, anything the schema or NgDP
would refuse, so a bad letter fails before anything is sent. The builder then
writes the elements in the schema's order with its required attributes.
"""

import base64
import ipaddress
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from urllib.parse import urlsplit

from lxml import etree

from digitalpost.errors import InvalidMessage
from digitalpost.identifiers import InvalidCPR, InvalidCVR, mask_cpr, normalize_cpr, normalize_cvr

NS = "https://DigitalPost.dk/MeMo-1"
_M = f"{{{NS}}}"
MEMO_VERSION = "1.1"
MEMO_SCHEMA_VERSION = "1.1.0"
# memoTextType and memoUriType: at most 256 characters.
MAX_TEXT = 256
MAX_URL = 256
ENCODING_FORMATS = ("text/plain", "text/html")
LANGUAGES = ("da", "en")
FILENAMES = {"text/plain": "besked.txt", "text/html": "besked.html"}
# Characters XML 1.0 cannot carry, and the C0/C1 controls no letter needs
# (tab, LF and CR are text).
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
# NgDP removes these from file names; a name made of nothing else is not a name.
_FILENAME_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')


class ActionCode(StrEnum):
    """NgDP's list of action codes; any other is refused."""

    AFTALE = "AFTALE"
    BEKRAEFT = "BEKRAEFT"
    BETALING = "BETALING"
    FORBEREDELSE = "FORBEREDELSE"
    INFORMATION = "INFORMATION"
    SELVBETJENING = "SELVBETJENING"
    TILMELDING = "TILMELDING"
    UNDERSKRIV = "UNDERSKRIV"


def memo_uuid(namespace: uuid.UUID, name: str) -> str:
    """A messageUUID derived from a name: the same name gives the same UUID
    (so a repeated send is a replay), shaped as version 4, the only version
    the schema's pattern takes."""
    return str(uuid.UUID(bytes=uuid.uuid5(namespace, name).bytes, version=4))


def is_memo_uuid(text: str) -> bool:
    return bool(
        re.fullmatch(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}", text)
    )


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(url: str, allow_loopback_http: bool = False) -> str | None:
    """Why NgDP would refuse an action URL, or None. Only absolute https://
    URLs go; http:// to this machine only where the caller allows it (a
    developer's sandbox), since no citizen can open such a link anyway."""
    if not url or len(url) > MAX_URL:
        return f"an action URL must be 1 to {MAX_URL} characters"
    if any(c.isspace() for c in url) or CONTROL_CHARACTERS.search(url):
        return "an action URL may not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        parts.port  # raises on a bad port
    except ValueError:
        return "an action URL must be an absolute https:// URL"
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and allow_loopback_http and is_loopback_host(parts.hostname):
        return None
    return "an action URL must be an absolute https:// URL"


def sanitize_filename(name: str) -> str:
    """A file name as NgDP keeps it: without <>:"/\\|?* and control characters."""
    cleaned = _FILENAME_FORBIDDEN.sub("", name or "").strip().strip(".")
    return cleaned[:MAX_TEXT]


@dataclass(frozen=True)
class Action:
    label: str
    url: str
    code: str = ActionCode.SELVBETJENING


@dataclass(frozen=True)
class Message:
    message_uuid: str
    subject: str
    sender_cvr: str
    sender_name: str
    recipient_cpr: str = field(repr=False)  # never in a repr, a log or a traceback
    body: str
    body_format: str = "text/plain"
    language: str = "da"
    actions: tuple[Action, ...] = ()
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc).replace(microsecond=0))
    filename: str = ""  # empty: besked.txt or besked.html
    # http:// links to this machine: for the local sandbox only (see url_problem).
    allow_loopback_http: bool = field(default=False, compare=False)

    def __repr__(self):
        return (
            f"Message(message_uuid={self.message_uuid!r}, subject={self.subject!r}, "
            f"sender_cvr={self.sender_cvr!r}, recipient={mask_cpr(self.recipient_cpr)!r})"
        )

    @property
    def file_name(self) -> str:
        return sanitize_filename(self.filename) or FILENAMES.get(self.body_format, "besked.txt")

    def content_key(self) -> tuple:
        """What makes two sends of one messageUUID 'the same content'."""
        return (
            self.subject,
            self.sender_cvr,
            self.sender_name,
            self.recipient_cpr,
            self.body,
            self.body_format,
            self.language,
            tuple((a.label, a.url, a.code) for a in self.actions),
        )

    def validate(self) -> "Message":
        """Raise InvalidMessage naming the first field that cannot be sent."""
        if not isinstance(self.message_uuid, str) or not is_memo_uuid(self.message_uuid):
            raise InvalidMessage("messageUUID is not a version 4 UUID", field="message_uuid")
        _text_field(self.subject, "subject", "label (subject)")
        try:
            normalize_cvr(self.sender_cvr)
        except InvalidCVR:
            raise InvalidMessage("senderID is not a valid CVR number", field="sender_cvr") from None
        _text_field(self.sender_name, "sender_name", "sender label")
        try:
            normalize_cpr(self.recipient_cpr)
        except InvalidCPR:
            raise InvalidMessage("recipientID is not a valid CPR number", field="recipient_cpr") from None
        if not self.body or not self.body.strip():
            raise InvalidMessage("the message text is empty", field="body")
        if CONTROL_CHARACTERS.search(self.body):
            raise InvalidMessage("the message text contains control characters", field="body")
        if self.body_format not in ENCODING_FORMATS:
            raise InvalidMessage("encodingFormat must be text/plain or text/html", field="body_format")
        if self.language not in LANGUAGES:
            raise InvalidMessage("language must be da or en", field="language")
        if self.created_at.tzinfo is None:
            raise InvalidMessage("createdDateTime must be in UTC", field="created_at")
        for action in self.actions:
            _text_field(action.label, "actions", "an action's label")
            if action.code not in ActionCode.__members__:
                raise InvalidMessage("actionCode is not on NgDP's list", field="actions")
            problem = url_problem(action.url, self.allow_loopback_http)
            if problem:
                raise InvalidMessage(problem, field="actions")
        return self


def _text_field(text: str, name: str, what: str) -> None:
    if not text or not text.strip():
        raise InvalidMessage(f"{what} is empty", field=name)
    if len(text) > MAX_TEXT:
        raise InvalidMessage(f"{what} is longer than {MAX_TEXT} characters", field=name)
    if CONTROL_CHARACTERS.search(text):
        raise InvalidMessage(f"{what} contains control characters", field=name)


def _el(parent, name, text=None):
    element = etree.SubElement(parent, _M + name)
    if text is not None:
        element.text = text
    return element


def memo_datetime(moment: datetime) -> str:
    """memoDateTimeType: an xs:dateTime that ends in Z."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_memo(message: Message) -> bytes:
    """The MeMo 1.1 XML of a validated message, as UTF-8 bytes: every element
    in MeMo_core.xsd's order, with the memo: prefix NgDP asks for."""
    message.validate()
    root = etree.Element(
        _M + "Message", nsmap={"memo": NS}, memoVersion=MEMO_VERSION, memoSchVersion=MEMO_SCHEMA_VERSION
    )
    header = _el(root, "MessageHeader")
    _el(header, "messageType", "DIGITALPOST")
    _el(header, "messageUUID", message.message_uuid.lower())
    _el(header, "label", message.subject)
    _el(header, "mandatory", "false")
    _el(header, "legalNotification", "false")
    sender = _el(header, "Sender")
    _el(sender, "senderID", normalize_cvr(message.sender_cvr))
    _el(sender, "idType", "CVR")
    _el(sender, "label", message.sender_name)
    recipient = _el(header, "Recipient")
    _el(recipient, "recipientID", normalize_cpr(message.recipient_cpr))
    _el(recipient, "idType", "CPR")
    body = _el(root, "MessageBody")
    _el(body, "createdDateTime", memo_datetime(message.created_at))
    document = _el(body, "MainDocument")
    file = _el(document, "File")
    _el(file, "encodingFormat", message.body_format)
    _el(file, "filename", message.file_name)
    _el(file, "language", message.language)
    _el(file, "content", base64.b64encode(message.body.encode("utf-8")).decode("ascii"))
    for action in message.actions:
        element = _el(document, "Action")
        _el(element, "label", action.label)
        _el(element, "actionCode", str(action.code))
        entry = _el(element, "EntryPoint")
        _el(entry, "url", action.url)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
