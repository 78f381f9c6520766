"""Letters: every message Postbud puts in a citizen's Digital Post, composed here.

compose() makes the letter of a share's round for one recipient (a real one,
or a sample for the preview and the test letter); verification_letter() makes
the mail that confirms the connection. A Letter is what the citizen will see:
the sender, the subject, the text and the button. Letter.message() wraps it in
the MeMo envelope (messageUUID, CVR, CPR, time) that the worker sends. The
preview, the worker, the verification mail and the test letter all use these,
so what a member previews is what the citizen gets.
"""

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import case, func, literal, select

from digitalpost import Action, ActionCode, InvalidMessage, Message
from digitalpost.memo import MAX_TEXT
from extensions import db
from models.base import new_token
from models.sharing import (
    BODY_MAX,
    LANGUAGES,
    RETRY_WINDOW,
    SUBJECT_MAX,
    Recipient,
    RecipientCpr,
    RoundKind,
    Share,
    secret_of_recipient,
)
from models.sharing.recipients import listed

# The merged text of one letter may hold at most this many characters: the
# message text (at most BODY_MAX) with its merge fields filled in.
LETTER_TEXT_MAX = 20_000
# MeMo's label: the subject as the citizen sees it, a reminder's prefix included.
SUBJECT_LIMIT = MAX_TEXT
# Where a citizen's button leads (views/respond.py serves both paths).
ANSWER_PATH = "/r/"
PREVIEW_PATH = "/p/"
# The envelope a letter is checked in before anyone's CPR is at hand.
_STAND_IN = dict(message_uuid="00000000-0000-4000-8000-000000000000", sender_cvr="13585628", recipient_cpr="0101000000")


# --- merge fields --------------------------------------------------------------

MERGE_FIELD = re.compile(r"\[([A-ZÆØÅ0-9_]+)\]")


SYSTEM_FIELDS = {"FIRSTNAME": "first_name", "FORNAVN": "first_name", "LASTNAME": "last_name", "EFTERNAVN": "last_name"}


def unknown_merge_fields(text: str, variables: list[str]) -> list[str]:
    known = set(SYSTEM_FIELDS) | {v.upper() for v in variables}
    return sorted({name for name in MERGE_FIELD.findall(text) if name not in known})


def merge(text: str, recipient: "Recipient | dict", fallbacks: dict | None = None) -> str:
    """The text with each [FIELD] filled in from the recipient. A value the
    recipient lacks (none, or empty) reads as the field's fallback, or as
    nothing: a letter never carries a literal [FIELD]."""
    get = recipient.get if isinstance(recipient, dict) else lambda k, d=None: getattr(recipient, k, d)
    variables = get("variables") or {}
    fallbacks = fallbacks or {}

    def value(match):
        name = match.group(1)
        found = get(SYSTEM_FIELDS[name]) if name in SYSTEM_FIELDS else variables.get(name)
        return str(found) if found not in (None, "") else fallbacks.get(name, "")

    return MERGE_FIELD.sub(value, text)


def merge_fields_in(text: str) -> list[str]:
    """The merge fields the text uses, in the order they first appear."""
    return list(dict.fromkeys(MERGE_FIELD.findall(text)))


def _field_column(name: str):
    """SQL: the recipient's value of a merge field. A background variable is
    read from the recipient's secret row, which the query must outer-join
    (_with_secrets)."""
    return (
        getattr(Recipient, SYSTEM_FIELDS[name]) if name in SYSTEM_FIELDS else RecipientCpr.variables[name].as_string()
    )


def _with_secrets(query):
    """The query over recipients, joined to their background variables."""
    return query.select_from(Recipient).outerjoin(RecipientCpr, secret_of_recipient())


def _lacking(name: str):
    """SQL: the recipient has no value, or an empty one, for the field."""
    return func.coalesce(_field_column(name), "") == ""


def merge_gaps(share_id: int, text: str) -> dict[str, int]:
    """For each merge field the text uses, how many recipients on the
    draft's list lack its value (only the fields some lack). One scan of
    the list, however many fields."""
    names = merge_fields_in(text)
    if not names:
        return {}
    row = db.session.execute(
        _with_secrets(select(*(func.coalesce(func.sum(case((_lacking(n), 1), else_=0)), 0) for n in names))).where(
            listed(share_id)
        )
    ).one()
    return {name: int(count) for name, count in zip(names, row) if count}


@dataclass(frozen=True)
class Letter:
    """A letter as the citizen will see it in Digital Post."""

    sender_name: str
    subject: str
    body: str
    language: str
    actions: tuple[Action, ...] = ()

    def message(self, *, message_uuid: str, sender_cvr: str, recipient_cpr: str, created_at: datetime) -> Message:
        """The MeMo message that carries this letter to one CPR number."""
        return Message(
            message_uuid=message_uuid,
            subject=self.subject,
            sender_cvr=sender_cvr,
            sender_name=self.sender_name,
            recipient_cpr=recipient_cpr,
            body=self.body,
            language=self.language,
            actions=self.actions,
            created_at=created_at.replace(microsecond=0),
            allow_loopback_http=current_app.config["DIGITAL_POST_LOOPBACK_HTTP"],
        )

    def problem(self) -> InvalidMessage | None:
        """Why Digital Post would refuse this letter, whoever it is sent to."""
        try:
            self.message(**_STAND_IN, created_at=datetime.now(timezone.utc)).validate()
        except InvalidMessage as exc:
            return exc
        if len(self.body) > LETTER_TEXT_MAX:
            return InvalidMessage(f"the text is longer than {LETTER_TEXT_MAX} characters", field="body")
        return None


def language_of(recipient) -> str:
    language = _get(recipient, "language")
    return language if language in LANGUAGES else "da"


def _get(recipient, key):
    if recipient is None:
        return None
    return recipient.get(key) if isinstance(recipient, dict) else getattr(recipient, key, None)


def public_url(path: str) -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


def answer_link(token: str) -> str:
    """The recipient's personal link to the answer page."""
    return public_url(ANSWER_PATH + token)


def decline_link(token: str) -> str:
    """Where the recipient says no thanks (views/respond.decline_view)."""
    return public_url(ANSWER_PATH + token + "/decline")


def why_lines(org_name: str, purpose: str, language: str, decline_url: str | None = None, cpr=True) -> list[str]:
    """The block every survey letter ends with, in the recipient's language:
    a heading; who sends it and why; that answering is voluntary; how the CPR
    number is used and when it is deleted; and where to say no thanks. The
    answer page shows the same (respond/_why.html), with its own button."""
    with force_locale(language):
        lines = [
            _("Why you get this letter"),
            purpose or _("%(org)s would like to hear from you, to learn from your answers.", org=org_name),
            _("Answering is voluntary."),
        ]
        if cpr:
            lines.append(
                _(
                    "%(org)s used your CPR number only to send this letter to your Digital Post. It is kept "
                    "encrypted and deleted when no more letters are to be sent, at the latest %(days)d days "
                    "after the last one.",
                    org=org_name,
                    days=RETRY_WINDOW.days,
                )
            )
        if decline_url:
            lines.append(_("If you do not want more letters about this survey: %(url)s", url=decline_url))
    return lines


def why_this_letter(org_name: str, purpose: str, language: str, decline_url: str) -> str:
    return "\n".join(why_lines(org_name, purpose, language, decline_url))


def round_subject(kind: RoundKind, subject: str, language: str) -> str:
    with force_locale(language):
        return _("Reminder: %(subject)s", subject=subject) if kind == RoundKind.REMINDER else subject


# --- the texts: per round kind and language --------------------------------------


@dataclass(frozen=True)
class LetterText:
    """What the member writes for one letter in one language."""

    subject: str
    body: str

    @classmethod
    def of(cls, stored: dict | None) -> "LetterText | None":
        return cls(stored.get("subject") or "", stored.get("body") or "") if stored else None

    def stored(self) -> dict:
        return {"subject": self.subject, "body": self.body}


Texts = dict[str, LetterText]  # language to text; "da" is there whenever any is


def written_text(share: Share, kind: RoundKind, language: str) -> LetterText | None:
    """The text the member wrote for a kind of letter in a language, if any.
    The Danish invitation lives in the share's subject and body."""
    if kind == RoundKind.INVITATION and language == "da":
        return LetterText(share.subject, share.body) if share.subject or share.body else None
    return LetterText.of(((share.texts or {}).get(kind) or {}).get(language))


def written_texts(share: Share) -> dict[RoundKind, Texts]:
    return {kind: {lang: t for lang in LANGUAGES if (t := written_text(share, kind, lang))} for kind in RoundKind}


def resolve_texts(written: dict[RoundKind, Texts]) -> dict[RoundKind, Texts]:
    """What each language's recipients get in each kind of round: what the
    member wrote; a reminder with no text of its own repeats the invitation
    of the recipient's language, marked as a reminder in that language."""
    invitation = written.get(RoundKind.INVITATION) or {}
    reminder = written.get(RoundKind.REMINDER) or {
        lang: LetterText(round_subject(RoundKind.REMINDER, t.subject, lang), t.body) for lang, t in invitation.items()
    }
    return {RoundKind.INVITATION: invitation, RoundKind.REMINDER: reminder}


def texts_of(share: Share, kind: RoundKind) -> Texts:
    """What each language's recipients get in a round of the kind (resolve_texts)."""
    return resolve_texts(written_texts(share))[RoundKind(kind)]


def write_texts(share: Share, texts: dict[RoundKind, Texts], fallbacks: dict) -> None:
    """Keep the member's texts on the draft: the Danish invitation in subject
    and body, the others in texts (a language left out is not sent)."""
    danish = texts[RoundKind.INVITATION]["da"]
    share.subject, share.body, share.merge_fallbacks = danish.subject, danish.body, fallbacks
    share.texts = {
        kind.value: {
            lang: t.stored() for lang, t in by_language.items() if (kind, lang) != (RoundKind.INVITATION, "da")
        }
        for kind, by_language in texts.items()
    }


def round_texts(rnd) -> Texts:
    """A round's own texts (ScheduledSend.texts), or its share's."""
    if rnd.texts:
        return {lang: LetterText.of(t) for lang, t in rnd.texts.items()}
    return texts_of(rnd.share, RoundKind(rnd.kind))


def text_for(texts: Texts, language: str) -> tuple[str, LetterText]:
    """The language and text a recipient of the language gets: their own, or Danish."""
    if language in texts:
        return language, texts[language]
    return "da", texts.get("da") or LetterText("", "")


def compose(
    share: Share,
    kind: RoundKind,
    recipient: "Recipient | dict | None",
    texts: Texts | None = None,
    link=None,
    fallbacks=None,
) -> Letter:
    """The letter of one round of the share, for one recipient, in the
    recipient's language, or in Danish when there is no text in theirs.
    texts and fallbacks default to the share's (the preview passes what is
    being typed, the worker the round's own); link to the recipient's own."""
    fallbacks = share.merge_fallbacks if fallbacks is None else fallbacks
    language, text = text_for(texts_of(share, kind) if texts is None else texts, language_of(recipient))
    values = recipient if recipient is not None else {}
    with force_locale(language):
        label = _("Answer the survey")
    token = _get(recipient, "token") or "-"
    org_name = share.survey.organization.name
    # The preview and the test letter's link leads to the answer page in
    # preview mode, and so does their "no thanks".
    why = why_this_letter(org_name, share.purpose(language), language, link or decline_link(token))
    return Letter(
        sender_name=org_name,
        subject=merge(text.subject, values, fallbacks),
        body=merge(text.body, values, fallbacks) + "\n\n" + why,
        language=language,
        actions=(Action(label=label, url=link or answer_link(token), code=ActionCode.SELVBETJENING),),
    )


def compose_round(rnd, recipient: "Recipient") -> Letter:
    """The letter a round sends a recipient, from the round's own texts."""
    return compose(rnd.share, RoundKind(rnd.kind), recipient, texts=round_texts(rnd))


def suggested_texts(share: Share, languages=("da",)) -> dict[RoundKind, Texts]:
    """A first invitation and reminder to start from, in the languages asked
    for: who asks and why, that it takes minutes, how the answers are kept,
    and thanks. They greet by first name when every recipient has one."""
    # A bracket in a name would read as a merge field.
    org, title = (t.replace("[", "(").replace("]", ")") for t in (share.survey.organization.name, share.survey.title))
    named = not merge_gaps(share.id, "[FORNAVN]")
    out: dict[RoundKind, Texts] = {RoundKind.INVITATION: {}, RoundKind.REMINDER: {}}
    for language in languages:
        with force_locale(language):
            first_name = "[FORNAVN]" if language == "da" else "[FIRSTNAME]"
            greeting = _("Dear %(name)s,", name=first_name) if named else _("Hello,")
            kept = (
                _("Your answers are anonymous: we cannot see who gave them.")
                if share.survey.anonymous
                else _("Your answers are kept with your name, so that we can follow up on them.")
            )
            closing = _("Kind regards\n%(org)s", org=org)
            subject = _("Will you answer a survey from %(org)s?", org=org)[:SUBJECT_MAX]
            # Its own subject, not the invitation's: the member may well rewrite that one.
            reminder_subject = _("Reminder: will you answer our survey?")
            invitation = [
                greeting,
                _("%(org)s would like to hear what you think: %(title)s.", org=org, title=title),
                _("It takes a few minutes. Press the button below to open the survey.") + " " + kept,
                _("Thank you for your help."),
                closing,
            ]
            reminder = [
                greeting,
                _(
                    "A few days ago we asked you to answer our survey: %(title)s. We have not heard from you yet, and your answers matter to us.",
                    title=title,
                ),
                _("It takes a few minutes. Press the button below to open the survey."),
                _("If you have answered in the meantime, thank you: you can disregard this letter."),
                closing,
            ]
        out[RoundKind.INVITATION][language] = LetterText(subject, "\n\n".join(invitation)[:BODY_MAX])
        out[RoundKind.REMINDER][language] = LetterText(reminder_subject, "\n\n".join(reminder)[:BODY_MAX])
    return out


def why_length(share: Share, language: str) -> int:
    """What the closing block adds to a letter's text, in one language."""
    stand_in = decline_link(new_token())  # every token has the same length
    purpose = share.purpose(language)
    return 2 + len(why_this_letter(share.survey.organization.name, purpose, language, stand_in))


def verification_letter(org_name: str, code: str, minutes: int, language: str) -> Letter:
    """The mail with the one-time code that confirms the connection."""
    with force_locale(language):
        return Letter(
            sender_name=org_name,
            subject=_("Confirm the connection to Digital Post"),
            body=_(
                "%(org)s is connecting Postbud to Digital Post, so that the organization can send "
                "survey invitations through Digital Post.\n\n"
                "Your confirmation code: %(code)s\n\n"
                "Enter the code in Postbud to confirm the connection. The code is valid for %(minutes)d minutes.\n\n"
                "If you did not start this yourself, you can ignore this message.",
                org=org_name,
                code=code,
                minutes=minutes,
            ),
            language=language,
        )


@dataclass(frozen=True)
class LetterTooLong:
    """A recipient whose merged letter passes a limit."""

    field: str  # "subject" or "body"
    recipient: str  # name, or the masked CPR
    kind: RoundKind
    language: str  # of the text that is too long
    limit: int


def first_oversized(share: Share, texts: dict[RoundKind, Texts], fallbacks: dict | None = None) -> LetterTooLong | None:
    """The first recipient whose letter, merged, would be longer than Digital
    Post takes: the subject over MeMo's 256 characters, or the text over
    LETTER_TEXT_MAX, in any of the texts, each measured against the
    recipients who get it. The database measures the merged lengths (a merge
    only adds the values' lengths), so a list of 100,000 is one scan a text,
    not 100,000 merges."""
    for kind, by_language in texts.items():
        for language, text in by_language.items():
            if language == "da":
                # Danish goes to everyone without a text of their own language.
                others = [lang for lang in by_language if lang != "da"]
                who = Recipient.language.not_in(others) if others else literal(True)
            else:
                who = Recipient.language == language
            why = why_length(share, language)
            for field, value, limit, extra in (
                ("subject", text.subject, SUBJECT_LIMIT, 0),
                ("body", text.body, LETTER_TEXT_MAX, why),
            ):
                length, fixed = _merged_length(value, fallbacks or {})
                if length is None:
                    if fixed + extra <= limit:
                        continue  # no merge field: the same length for everyone, and it fits
                    length = literal(fixed)
                row = db.session.execute(
                    _with_secrets(select(Recipient.first_name, Recipient.last_name, Recipient.cpr_masked))
                    .where(listed(share.id), who, length + extra > limit)
                    .order_by(Recipient.id)
                    .limit(1)
                ).first()
                if row is not None:
                    name = f"{row.first_name} {row.last_name}".strip() or row.cpr_masked
                    return LetterTooLong(field, name, kind, language, limit)
    return None


def _merged_length(text: str, fallbacks: dict):
    """(an SQL expression for the merged length, or None without merge
    fields; the length of the text around the fields). As merge() does: a
    value missing or empty reads as its fallback."""
    fields = Counter(MERGE_FIELD.findall(text))
    fixed = len(MERGE_FIELD.sub("", text))
    if not fields:
        return None, fixed
    terms = []
    for name, count in fields.items():
        value = func.coalesce(func.nullif(func.length(_field_column(name)), 0), len(fallbacks.get(name, "")))
        terms.append(value * count)
    return literal(fixed) + sum(terms[1:], terms[0]), fixed
