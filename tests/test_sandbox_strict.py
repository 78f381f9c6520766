"""The sandbox is as strict as Digital Post: what the official MeMo schema or
NgDP refuses, it refuses with the real service's kind of error (400
invalid_memo); what they take, it takes. Messages are written by hand here,
not by Postbud's builder, and posted over HTTP to the real sandbox."""

import base64
import uuid

import httpx
import pytest

from conftest import CITIZEN_CPR, EXEMPT_CPR, SANDBOX_KEY
from tests.fixtures.memo_schema import schema_errors

TEXT = base64.b64encode("Kære borger, svar venligst på vores spørgeskema.".encode()).decode()
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
    b"3 0 obj<</Type/Page/MediaBox[0 0 200 200]/Parent 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
ACTION = (
    "<memo:Action><memo:label>Besvar spørgeskemaet</memo:label><memo:actionCode>{code}</memo:actionCode>"
    "<memo:EntryPoint><memo:url>{url}</memo:url></memo:EntryPoint></memo:Action>"
)
TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<memo:Message xmlns:memo="https://DigitalPost.dk/MeMo-1" {root_attributes}>
  <memo:MessageHeader>
    <memo:messageType>DIGITALPOST</memo:messageType>
    <memo:messageUUID>{uuid}</memo:messageUUID>
    <memo:label>{label}</memo:label>{after_label}
    <memo:mandatory>false</memo:mandatory>
    <memo:legalNotification>false</memo:legalNotification>
    <memo:Sender><memo:senderID>13585628</memo:senderID><memo:idType>CVR</memo:idType><memo:label>Testkommune</memo:label>{sender}</memo:Sender>
    <memo:Recipient><memo:recipientID>{cpr}</memo:recipientID><memo:idType>CPR</memo:idType></memo:Recipient>{header}
  </memo:MessageHeader>
  <memo:MessageBody>
    <memo:createdDateTime>{created}</memo:createdDateTime>
    <memo:MainDocument>
      <memo:File><memo:encodingFormat>{format}</memo:encodingFormat><memo:filename>{filename}</memo:filename><memo:language>da</memo:language><memo:content>{content}</memo:content></memo:File>
      {actions}
    </memo:MainDocument>{body}
  </memo:MessageBody>
</memo:Message>
"""
DEFAULTS = dict(
    root_attributes='memoVersion="1.1" memoSchVersion="1.1.0"',
    label="Din mening tæller",
    after_label="",
    sender="",
    cpr=CITIZEN_CPR,
    header="",
    created="2026-11-26T10:31:35Z",
    format="text/plain",
    filename="besked.txt",
    content=TEXT,
    actions=ACTION.format(code="SELVBETJENING", url="https://postbud.example/r/abc"),
    body="",
)


def memo(replace=(), **parts) -> bytes:
    """A hand-written MeMo message: the template's parts, then plain text replacements."""
    text = TEMPLATE.format(**{**DEFAULTS, "uuid": str(uuid.uuid4()), **parts})
    for old, new in replace:
        assert old in text, old
        text = text.replace(old, new)
    return text.encode()


def post(sandbox, xml: bytes) -> httpx.Response:
    return httpx.post(
        f"{sandbox.url}/v1/messages",
        content=xml,
        headers={"Authorization": f"Bearer {SANDBOX_KEY}", "Content-Type": "application/xml"},
    )


def refused(response) -> bool:
    assert response.status_code in (202, 400), response.text
    if response.status_code == 400:
        assert response.json()["error"] == "invalid_memo" and response.json()["detail"]
    return response.status_code == 400


LONG_URL = "https://postbud.example/r/" + "a" * 231  # 257 characters
# What the issue found the sandbox taking although the schema refuses it.
SCHEMA_REFUSES = {
    "no memoSchVersion": memo(root_attributes='memoVersion="1.1"'),
    "no mandatory": memo(replace=[("<memo:mandatory>false</memo:mandatory>", "")]),
    "no legalNotification": memo(replace=[("<memo:legalNotification>false</memo:legalNotification>", "")]),
    "header out of order": memo(
        replace=[
            ("<memo:mandatory>false</memo:mandatory>", "<memo:legalNotification>false</memo:legalNotification>"),
            ("<memo:legalNotification>false</memo:legalNotification>\n", "<memo:mandatory>false</memo:mandatory>\n"),
        ]
    ),
    "label before messageUUID": memo(
        replace=[("<memo:messageType>DIGITALPOST</memo:messageType>", "<memo:label>Først</memo:label>")],
        label="Så",
    ),
    "createdDateTime +01:00": memo(created="2026-11-26T11:31:35+01:00"),
    "an unknown element": memo(header="<memo:surveyLink>https://x.dk</memo:surveyLink>"),
    "action URL of 257 characters": memo(actions=ACTION.format(code="SELVBETJENING", url=LONG_URL)),
    "no filename": memo(replace=[("<memo:filename>besked.txt</memo:filename>", "")]),
    "a version 5 messageUUID": memo(uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, "postbud"))),
}
# What the schema takes and NgDP refuses.
NGDP_REFUSES = {
    "http:// action URL": memo(actions=ACTION.format(code="SELVBETJENING", url="http://postbud.example/r/abc")),
    "relative action URL": memo(actions=ACTION.format(code="SELVBETJENING", url="/r/abc")),
    "actionCode off NgDP's list": memo(actions=ACTION.format(code="SVAR", url="https://postbud.example/r/abc")),
    "default namespace, no memo: prefix": memo().replace(b"memo:", b"").replace(b"xmlns:memo=", b"xmlns="),
    "a file name with /": memo(filename="svar/skema.txt"),
    "a file type off the list": memo(format="application/x-msdownload", filename="svar.exe"),
    "memoVersion 1.0": memo(root_attributes='memoVersion="1.0" memoSchVersion="1.1.0"'),
    "no MessageBody": memo(
        replace=[(memo().decode().split("<memo:MessageBody>")[1].split("</memo:MessageBody>")[0], "")]
    ).replace(b"<memo:MessageBody></memo:MessageBody>", b""),
}
# What the issue found the sandbox refusing although the schema takes it.
SCHEMA_TAKES = {
    "a PDF main document": memo(format="application/pdf", filename="brev.pdf", content=base64.b64encode(PDF).decode()),
    "base64 wrapped in lines": memo(content="\n".join(TEXT[i : i + 20] for i in range(0, len(TEXT), 20))),
    "an action without EntryPoint": memo(
        actions="<memo:Action><memo:label>Læs mere</memo:label><memo:actionCode>INFORMATION</memo:actionCode></memo:Action>"
    ),
    "a 256-character label": memo(label="æ" * 256),
}


@pytest.mark.parametrize("name", list(SCHEMA_REFUSES))
def test_what_the_schema_refuses_the_sandbox_refuses(sandbox, name):
    xml = SCHEMA_REFUSES[name]
    assert schema_errors(xml), "the official schema takes this: the case is wrong"
    assert refused(post(sandbox, xml))


@pytest.mark.parametrize("name", list(NGDP_REFUSES))
def test_what_ngdp_refuses_the_sandbox_refuses(sandbox, name):
    xml = NGDP_REFUSES[name]
    assert schema_errors(xml) == [], "the schema refuses this already: not an NgDP rule"
    assert refused(post(sandbox, xml))


@pytest.mark.parametrize("name", list(SCHEMA_TAKES))
def test_what_the_schema_takes_the_sandbox_takes(sandbox, name):
    xml = SCHEMA_TAKES[name]
    assert schema_errors(xml) == []
    assert post(sandbox, xml).status_code == 202


def test_a_pdf_letter_is_shown_in_the_mailbox(sandbox):
    assert post(sandbox, SCHEMA_TAKES["a PDF main document"]).status_code == 202
    mail = sandbox.mailbox(CITIZEN_CPR)
    assert mail[0]["format"] == "application/pdf" and mail[0]["filename"] == "brev.pdf"
    client = sandbox.app.test_client()
    page = sandbox.mailbox_page(CITIZEN_CPR, client).get_data(as_text=True)
    src = page.split('<iframe class="mail-pdf" src="')[1].split('"')[0]
    document = client.get(src)
    assert document.status_code == 200 and document.data == PDF
    assert document.headers["Content-Type"] == "application/pdf"
    assert "frame-ancestors 'self'" in document.headers["Content-Security-Policy"]


def test_an_exempt_cpr_written_with_a_dash_is_exempt(sandbox):
    dashed = f"{EXEMPT_CPR[:6]}-{EXEMPT_CPR[6:]}"
    xml = memo(cpr=dashed)
    assert schema_errors(xml) == []
    response = post(sandbox, xml)
    assert response.status_code == 422 and response.json()["error"] == "recipient_exempt"
    assert sandbox.mailbox(EXEMPT_CPR) == []


def test_a_dashed_cpr_is_delivered_to_its_mailbox(sandbox):
    xml = memo(cpr=f"{CITIZEN_CPR[:6]}-{CITIZEN_CPR[6:]}")
    assert post(sandbox, xml).status_code == 202
    assert len(sandbox.mailbox(CITIZEN_CPR)) == 1


def test_http_to_loopback_passes_in_development_and_says_so(sandbox):
    xml = memo(actions=ACTION.format(code="SELVBETJENING", url="http://127.0.0.1:5000/r/abc"))
    assert post(sandbox, xml).status_code == 202
    assert sandbox.mailbox(CITIZEN_CPR)[0]["loopbackLinks"] is True
    page = sandbox.mailbox_page(CITIZEN_CPR).get_data(as_text=True)
    assert "https://" in page and "http://" in page and 'class="muted note"' in page
    sandbox.configure(SANDBOX_ALLOW_LOOPBACK_HTTP=False)
    try:
        again = memo(actions=ACTION.format(code="SELVBETJENING", url="http://127.0.0.1:5000/r/abc"))
        assert refused(post(sandbox, again))
    finally:
        sandbox.configure(SANDBOX_ALLOW_LOOPBACK_HTTP=True)


def _optional(**parts):
    return memo(**parts)


# Valid and invalid messages beyond the issue's: every kind of rule the schema
# has (order, counts, choices, types, lengths, attributes), none of NgDP's.
AGREEMENT = {
    **SCHEMA_REFUSES,
    **SCHEMA_TAKES,
    "the plain letter": memo(),
    "upper-case UUID": memo(uuid=str(uuid.uuid4()).upper()),
    "UUID of the wrong variant": memo(uuid="3f2b8c1e-5d4a-4e6f-0a1b-2c3d4e5f6a7b"),
    "notification of 150": memo(after_label="<memo:notification>" + "n" * 150 + "</memo:notification>"),
    "notification of 151": memo(after_label="<memo:notification>" + "n" * 151 + "</memo:notification>"),
    "reply and replyByDateTime": memo(
        after_label="<memo:reply>true</memo:reply><memo:replyByDateTime>2026-12-24T12:00:00Z</memo:replyByDateTime>"
    ),
    "reply as yes": memo(after_label="<memo:reply>yes</memo:reply>"),
    "reply with spaces": memo(after_label="<memo:reply> 1 </memo:reply>"),
    "doNotDeliverUntilDate": memo(after_label="<memo:doNotDeliverUntilDate>2026-12-01</memo:doNotDeliverUntilDate>"),
    "doNotDeliverUntilDate 30 February": memo(
        after_label="<memo:doNotDeliverUntilDate>2026-02-30</memo:doNotDeliverUntilDate>"
    ),
    "createdDateTime with fractions": memo(created="2026-11-26T10:31:35.250Z"),
    "createdDateTime without zone": memo(created="2026-11-26T10:31:35"),
    "createdDateTime 13th month": memo(created="2026-13-26T10:31:35Z"),
    "label of 257": memo(label="x" * 257),
    "empty label": memo(label=""),
    "sender with idTypeLabel and ContactPoint": memo(
        replace=[
            ("<memo:idType>CVR</memo:idType>", "<memo:idType>CVR</memo:idType><memo:idTypeLabel>CVR</memo:idTypeLabel>")
        ],
        sender="<memo:ContactPoint><memo:contactPointID>42</memo:contactPointID>"
        "<memo:ContactInfo><memo:label>Tlf</memo:label><memo:value>12345678</memo:value></memo:ContactInfo>"
        "</memo:ContactPoint>",
    ),
    "three ContactInfo": memo(
        sender="<memo:ContactPoint><memo:contactPointID>42</memo:contactPointID>"
        + "<memo:ContactInfo><memo:label>a</memo:label><memo:value>b</memo:value></memo:ContactInfo>" * 3
        + "</memo:ContactPoint>"
    ),
    "AttentionData in order": memo(
        sender="<memo:AttentionData><memo:AttentionPerson><memo:label>Anna</memo:label></memo:AttentionPerson>"
        "<memo:EMail><memo:emailAddress>a@b.dk</memo:emailAddress></memo:EMail>"
        "<memo:Telephone><memo:telephoneNumber>1</memo:telephoneNumber></memo:Telephone></memo:AttentionData>"
    ),
    "AttentionData out of order": memo(
        sender="<memo:AttentionData><memo:Telephone><memo:telephoneNumber>1</memo:telephoneNumber></memo:Telephone>"
        "<memo:EMail><memo:emailAddress>a@b.dk</memo:emailAddress></memo:EMail></memo:AttentionData>"
    ),
    "ContentData from other schemas": memo(
        header='<memo:ContentData><grd:CPRdata xmlns:grd="https://data.gov.dk/model/core/"><grd:cprNumber>0101901234'
        '</grd:cprNumber></grd:CPRdata><kle:KLEdata xmlns:kle="http://kle-online.dk/"><kle:subjectKey>27.00'
        "</kle:subjectKey><kle:version>1</kle:version><kle:label>Sundhed</kle:label></kle:KLEdata>"
        "<memo:CaseID><memo:caseID>7</memo:caseID><memo:caseSystem>ESDH</memo:caseSystem></memo:CaseID>"
        "</memo:ContentData>"
    ),
    "KLEdata without version": memo(
        header='<memo:ContentData><kle:KLEdata xmlns:kle="http://kle-online.dk/"><kle:subjectKey>27.00'
        "</kle:subjectKey><kle:label>Sundhed</kle:label></kle:KLEdata></memo:ContentData>"
    ),
    "ten AdditionalContentData": memo(
        header="<memo:ContentData>" + "<memo:AdditionalContentData><memo:contentDataName>a</memo:contentDataName>"
        "<memo:contentDataValue>b</memo:contentDataValue></memo:AdditionalContentData>" * 10 + "</memo:ContentData>"
    ),
    "eleven AdditionalContentData": memo(
        header="<memo:ContentData>" + "<memo:AdditionalContentData><memo:contentDataName>a</memo:contentDataName>"
        "<memo:contentDataValue>b</memo:contentDataValue></memo:AdditionalContentData>" * 11 + "</memo:ContentData>"
    ),
    "a production unit number too large": memo(
        header='<memo:ContentData><grd:ProductionUnit xmlns:grd="https://data.gov.dk/model/core/">'
        "<grd:productionUnitNumber>99999999999</grd:productionUnitNumber></grd:ProductionUnit></memo:ContentData>"
    ),
    "a production unit number": memo(
        header='<memo:ContentData><grd:ProductionUnit xmlns:grd="https://data.gov.dk/model/core/">'
        "<grd:productionUnitNumber>1003388394</grd:productionUnitNumber></grd:ProductionUnit></memo:ContentData>"
    ),
    "ForwardData": memo(
        header=f"<memo:ForwardData><memo:messageUUID>{uuid.uuid4()}</memo:messageUUID>"
        "<memo:originalMessageDateTime>2026-01-01T00:00:00Z</memo:originalMessageDateTime>"
        "<memo:originalSender>Region</memo:originalSender><memo:comment>" + "c" * 512 + "</memo:comment>"
        "</memo:ForwardData>"
    ),
    "ForwardData with a comment of 513": memo(
        header=f"<memo:ForwardData><memo:messageUUID>{uuid.uuid4()}</memo:messageUUID>"
        "<memo:originalMessageDateTime>2026-01-01T00:00:00Z</memo:originalMessageDateTime>"
        "<memo:originalSender>Region</memo:originalSender><memo:comment>" + "c" * 513 + "</memo:comment>"
        "</memo:ForwardData>"
    ),
    "five AdditionalReplyData": memo(
        header=f"<memo:ReplyData><memo:messageUUID>{uuid.uuid4()}</memo:messageUUID>"
        + "<memo:AdditionalReplyData><memo:label>a</memo:label><memo:value>b</memo:value></memo:AdditionalReplyData>"
        * 5
        + "</memo:ReplyData>"
    ),
    "two ReplyData": memo(
        header=f"<memo:ReplyData><memo:messageUUID>{uuid.uuid4()}</memo:messageUUID></memo:ReplyData>" * 2
    ),
    "two Files and an AdditionalDocument": memo(
        actions="<memo:File><memo:encodingFormat>text/html</memo:encodingFormat><memo:filename>b.html</memo:filename>"
        f"<memo:language>en</memo:language><memo:content>{TEXT}</memo:content></memo:File>"
        + ACTION.format(code="SELVBETJENING", url="https://postbud.example/r/abc"),
        body="<memo:AdditionalDocument><memo:label>Bilag</memo:label><memo:File><memo:encodingFormat>text/plain"
        "</memo:encodingFormat><memo:filename>bilag.txt</memo:filename><memo:language>da</memo:language>"
        f"<memo:content>{TEXT}</memo:content></memo:File></memo:AdditionalDocument>",
    ),
    "a File after the Action": memo(
        actions=ACTION.format(code="SELVBETJENING", url="https://postbud.example/r/abc")
        + "<memo:File><memo:encodingFormat>text/plain</memo:encodingFormat><memo:filename>b.txt</memo:filename>"
        f"<memo:language>da</memo:language><memo:content>{TEXT}</memo:content></memo:File>"
    ),
    "an action with a time span": memo(
        actions="<memo:Action><memo:label>Tilmeld</memo:label><memo:actionCode>TILMELDING</memo:actionCode>"
        "<memo:startDateTime>2026-12-01T08:00:00Z</memo:startDateTime><memo:endDateTime>2026-12-01T09:00:00Z"
        "</memo:endDateTime><memo:EntryPoint><memo:url>https://x.dk/t</memo:url></memo:EntryPoint></memo:Action>"
    ),
    "an action with a Reservation": memo(
        actions="<memo:Action><memo:label>Aftale</memo:label><memo:actionCode>AFTALE</memo:actionCode>"
        f"<memo:Reservation><memo:description>Samtale</memo:description><memo:reservationUUID>{uuid.uuid4()}"
        "</memo:reservationUUID><memo:abstract>a</memo:abstract><memo:location>Rådhuset</memo:location>"
        "<memo:startDateTime>2026-12-01T08:00:00Z</memo:startDateTime><memo:endDateTime>2026-12-01T09:00:00Z"
        "</memo:endDateTime></memo:Reservation></memo:Action>"
    ),
    "an action with a Reservation and an EntryPoint": memo(
        actions="<memo:Action><memo:label>Aftale</memo:label><memo:actionCode>AFTALE</memo:actionCode>"
        f"<memo:Reservation><memo:description>Samtale</memo:description><memo:reservationUUID>{uuid.uuid4()}"
        "</memo:reservationUUID><memo:abstract>a</memo:abstract><memo:location>Rådhuset</memo:location>"
        "<memo:startDateTime>2026-12-01T08:00:00Z</memo:startDateTime><memo:endDateTime>2026-12-01T09:00:00Z"
        "</memo:endDateTime></memo:Reservation><memo:EntryPoint><memo:url>https://x.dk/t</memo:url>"
        "</memo:EntryPoint></memo:Action>"
    ),
    "an action without actionCode": memo(
        actions="<memo:Action><memo:label>Svar</memo:label><memo:EntryPoint><memo:url>https://x.dk/t</memo:url>"
        "</memo:EntryPoint></memo:Action>"
    ),
    "language of three letters": memo(
        replace=[("<memo:language>da</memo:language>", "<memo:language>dan</memo:language>")]
    ),
    "content that is not base64": memo(content="not base64!"),
    "text inside MessageHeader": memo(header="stray text"),
    "an unknown attribute": memo(replace=[("<memo:MessageHeader>", '<memo:MessageHeader id="h1">')]),
    "xsi:schemaLocation on the root": memo(
        root_attributes='memoVersion="1.1" memoSchVersion="1.1.0" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="https://DigitalPost.dk/MeMo-1 MeMo_core.xsd"'
    ),
    "memoVersion not a number": memo(root_attributes='memoVersion="one" memoSchVersion="1.1.0"'),
    "two MainDocuments": memo(
        body="<memo:MainDocument><memo:File><memo:encodingFormat>text/plain</memo:encodingFormat><memo:filename>"
        f"b.txt</memo:filename><memo:language>da</memo:language><memo:content>{TEXT}</memo:content></memo:File>"
        "</memo:MainDocument>"
    ),
    "messageType NEMSMS spelled wrong": memo(
        replace=[("<memo:messageType>DIGITALPOST</memo:messageType>", "<memo:messageType>DIGITAL</memo:messageType>")]
    ),
    "postType after legalNotification": memo(
        replace=[
            (
                "<memo:legalNotification>false</memo:legalNotification>",
                "<memo:legalNotification>false</memo:legalNotification><memo:postType>BREV</memo:postType>",
            )
        ]
    ),
}


def test_the_sandbox_agrees_with_the_official_schema(sandbox):
    """At least 30 valid and invalid messages that keep NgDP's own rules: the
    sandbox takes exactly those the official schema takes."""
    assert len(AGREEMENT) >= 30
    verdicts = {"valid": 0, "invalid": 0}
    disagreements = []
    for name, xml in AGREEMENT.items():
        schema_says_valid = schema_errors(xml) == []
        response = post(sandbox, xml)
        sandbox_says_valid = not refused(response)
        verdicts["valid" if schema_says_valid else "invalid"] += 1
        if schema_says_valid != sandbox_says_valid:
            disagreements.append((name, schema_errors(xml)[:1], response.text))
    assert disagreements == []
    assert verdicts["valid"] >= 12 and verdicts["invalid"] >= 12, verdicts
