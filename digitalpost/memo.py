"""MeMo 1.1 messages: build the XML the gateway takes, and parse it back.

Both directions validate, so a bad message is refused with InvalidMessage
(naming the field) before anything is sent, and the sandbox refuses the same
things the real gateway does.
"""

import base64
import binascii
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from lxml import etree

from digitalpost.errors import InvalidMessage
from digitalpost.identifiers import InvalidCPR, InvalidCVR, mask_cpr, normalize_cpr, normalize_cvr

NS = "https://DigitalPost.dk/MeMo-1"
_M = f"{{{NS}}}"
MAX_LABEL = 255
ENCODING_FORMATS = ("text/plain", "text/html")
LANGUAGES = ("da", "en")
FILENAMES = {"text/plain": "besked.txt", "text/html": "besked.html"}
# Characters XML 1.0 cannot carry (control characters other than tab, LF, CR).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class Action:
    label: str
    url: str
    code: str = "SELVBETJENING"


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

    def __repr__(self):
        return (
            f"Message(message_uuid={self.message_uuid!r}, subject={self.subject!r}, "
            f"sender_cvr={self.sender_cvr!r}, recipient={mask_cpr(self.recipient_cpr)!r})"
        )

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
        try:
            uuid.UUID(self.message_uuid)
        except (ValueError, AttributeError, TypeError):
            raise InvalidMessage("messageUUID is not a UUID", field="message_uuid") from None
        if not self.subject or not self.subject.strip():
            raise InvalidMessage("label (subject) is empty", field="subject")
        if len(self.subject) > MAX_LABEL:
            raise InvalidMessage(f"label (subject) is longer than {MAX_LABEL} characters", field="subject")
        try:
            normalize_cvr(self.sender_cvr)
        except InvalidCVR:
            raise InvalidMessage("senderID is not a valid CVR number", field="sender_cvr") from None
        if not self.sender_name or not self.sender_name.strip():
            raise InvalidMessage("sender label is empty", field="sender_name")
        try:
            normalize_cpr(self.recipient_cpr)
        except InvalidCPR:
            raise InvalidMessage("recipientID is not a valid CPR number", field="recipient_cpr") from None
        if not self.body or not self.body.strip():
            raise InvalidMessage("the message text is empty", field="body")
        if self.body_format not in ENCODING_FORMATS:
            raise InvalidMessage("encodingFormat must be text/plain or text/html", field="body_format")
        if self.language not in LANGUAGES:
            raise InvalidMessage("language must be da or en", field="language")
        for text, name in [(self.subject, "subject"), (self.sender_name, "sender_name")] + [
            (a.label, "actions") for a in self.actions
        ]:
            if _NOT_XML.search(text):
                raise InvalidMessage(f"{name} contains control characters", field=name)
        for action in self.actions:
            if not action.label.strip():
                raise InvalidMessage("an action has no label", field="actions")
            if not re.match(r"^https?://[^\s]+$", action.url or ""):
                raise InvalidMessage("an action URL must be http(s)", field="actions")
        return self


def _el(parent, name, text=None):
    element = etree.SubElement(parent, _M + name)
    if text is not None:
        element.text = text
    return element


def build_memo(message: Message) -> bytes:
    """The MeMo 1.1 XML of a validated message, as UTF-8 bytes."""
    message.validate()
    root = etree.Element(_M + "Message", nsmap={"memo": NS}, memoVersion="1.1", memoSchVersion="1.1.0")
    header = _el(root, "MessageHeader")
    _el(header, "messageType", "DIGITALPOST")
    _el(header, "messageUUID", message.message_uuid)
    _el(header, "label", message.subject)
    _el(header, "mandatory", "false")
    _el(header, "legalNotification", "false")
    sender = _el(header, "Sender")
    _el(sender, "senderID", message.sender_cvr)
    _el(sender, "idType", "CVR")
    _el(sender, "label", message.sender_name)
    recipient = _el(header, "Recipient")
    _el(recipient, "recipientID", normalize_cpr(message.recipient_cpr))
    _el(recipient, "idType", "CPR")
    body = _el(root, "MessageBody")
    _el(body, "createdDateTime", message.created_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    document = _el(body, "MainDocument")
    file = _el(document, "File")
    _el(file, "encodingFormat", message.body_format)
    _el(file, "filename", FILENAMES[message.body_format])
    _el(file, "language", message.language)
    _el(file, "content", base64.b64encode(message.body.encode("utf-8")).decode("ascii"))
    for action in message.actions:
        element = _el(document, "Action")
        _el(element, "label", action.label)
        _el(element, "actionCode", action.code)
        entry = _el(element, "EntryPoint")
        _el(entry, "url", action.url)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# No DTDs, no entities, no network: the parser must not be a way in.
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_blank_text=False
)


def _text(parent, path, what) -> str:
    element = parent.find(path, {"memo": NS})
    if element is None:
        raise InvalidMessage(f"{what} is missing")
    return element.text or ""


def parse_memo(data: bytes) -> Message:
    """Parse and validate MeMo 1.1 XML; raise InvalidMessage with a useful detail."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise InvalidMessage(f"not well-formed XML: {exc.msg}") from None
    if root.tag != _M + "Message":
        raise InvalidMessage("the root element must be memo:Message")
    if root.get("memoVersion") != "1.1":
        raise InvalidMessage("memoVersion must be 1.1")
    if _text(root, "memo:MessageHeader/memo:messageType", "messageType") != "DIGITALPOST":
        raise InvalidMessage("messageType must be DIGITALPOST")
    if _text(root, "memo:MessageHeader/memo:Sender/memo:idType", "Sender/idType") != "CVR":
        raise InvalidMessage("Sender/idType must be CVR")
    if _text(root, "memo:MessageHeader/memo:Recipient/memo:idType", "Recipient/idType") != "CPR":
        raise InvalidMessage("Recipient/idType must be CPR")
    created_text = _text(root, "memo:MessageBody/memo:createdDateTime", "createdDateTime")
    try:
        created = datetime.fromisoformat(created_text.replace("Z", "+00:00"))
        if created.tzinfo is None:
            created = created.replace(tzinfo=timezone.utc)
    except ValueError:
        raise InvalidMessage("createdDateTime is not a date and time") from None
    file = root.find("memo:MessageBody/memo:MainDocument/memo:File", {"memo": NS})
    if file is None:
        raise InvalidMessage("MainDocument/File is missing")
    try:
        body = base64.b64decode(_text(file, "memo:content", "File/content"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidMessage("File/content is not base64 of UTF-8 text") from None
    actions = []
    for element in root.iterfind("memo:MessageBody/memo:MainDocument/memo:Action", {"memo": NS}):
        actions.append(
            Action(
                label=_text(element, "memo:label", "Action/label"),
                code=_text(element, "memo:actionCode", "Action/actionCode"),
                url=_text(element, "memo:EntryPoint/memo:url", "Action/EntryPoint/url"),
            )
        )
    message = Message(
        message_uuid=_text(root, "memo:MessageHeader/memo:messageUUID", "messageUUID"),
        subject=_text(root, "memo:MessageHeader/memo:label", "label"),
        sender_cvr=_text(root, "memo:MessageHeader/memo:Sender/memo:senderID", "Sender/senderID"),
        sender_name=_text(root, "memo:MessageHeader/memo:Sender/memo:label", "Sender/label"),
        recipient_cpr=_text(root, "memo:MessageHeader/memo:Recipient/memo:recipientID", "Recipient/recipientID"),
        body=body,
        body_format=_text(file, "memo:encodingFormat", "File/encodingFormat"),
        language=_text(file, "memo:language", "File/language"),
        actions=tuple(actions),
        created_at=created,
    )
    return message.validate()
