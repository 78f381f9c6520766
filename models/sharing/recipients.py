"""A draft's recipient list, stored: rows the member typed in, pasted or
uploaded (read and validated by `models.sharing.rows`, which touches no
database), written in batches with their CPRs encrypted and hashed.

The valid rows of a paste or upload wait, tagged with their RecipientImport,
until the member accepts them, or are thrown away if the member chooses to
fix the file instead.
"""

import io
from collections.abc import Iterable
from typing import BinaryIO

from sqlalchemy import and_, func, or_, select

from crypto import encryptor, hasher
from digitalpost import mask_cpr
from extensions import db
from models.base import new_token
from models.bulk import analyzed_after, insert_skipping_conflicts
from models.org import fold
from models.sharing import Recipient, RecipientCpr, RecipientImport, RecipientState, Share, max_recipients
from models.sharing.rows import (
    FileError,
    ImportRefused,
    ImportSource,
    Report,
    ValidRow,
    csv_rows,
    sniff_kind,
    text_stream,
    validated,
    xlsx_rows,
)

# --- the list -----------------------------------------------------------------


def listed(share_id: int):
    """The draft's recipients that are on its list: typed in, or from an
    accepted import. (A confirmed share holds no others.)"""
    accepted = select(RecipientImport.id).where(RecipientImport.share_id == share_id, RecipientImport.accepted)
    return and_(Recipient.share_id == share_id, or_(Recipient.import_id.is_(None), Recipient.import_id.in_(accepted)))


def sample(share_id: int, limit: int) -> list[Recipient]:
    """The first recipients on the draft's list."""
    return db.session.scalars(select(Recipient).where(listed(share_id)).order_by(Recipient.id).limit(limit)).all()


def has_english_recipients(share_id: int) -> bool:
    """Whether anyone on the draft's list reads English."""
    return (
        db.session.scalar(select(Recipient.id).where(listed(share_id), Recipient.language == "en").limit(1)) is not None
    )


def pending_import(share_id: int) -> RecipientImport | None:
    """The newest import the member has neither accepted nor thrown away."""
    return db.session.scalar(
        select(RecipientImport)
        .where(RecipientImport.share_id == share_id, RecipientImport.accepted.is_(False))
        .order_by(RecipientImport.id.desc())
    )


def recipient_count(share_id: int, listed_only: bool = True) -> int:
    condition = listed(share_id) if listed_only else Recipient.share_id == share_id
    return db.session.scalar(select(func.count()).select_from(Recipient).where(condition))


def accept_import(share: Share, imp: RecipientImport) -> int:
    """One row changes, however many recipients the import holds."""
    imp.accepted = True
    return imp.valid


def delete_recipients(share_id: int, *conditions) -> None:
    """Recipients of the share that match, with their encrypted CPRs."""
    hmacs = select(Recipient.cpr_hmac).where(Recipient.share_id == share_id, *conditions)
    db.session.execute(
        RecipientCpr.__table__.delete().where(RecipientCpr.share_id == share_id, RecipientCpr.cpr_hmac.in_(hmacs))
    )
    db.session.execute(Recipient.__table__.delete().where(Recipient.share_id == share_id, *conditions))


def discard_import(share: Share, imp: RecipientImport) -> None:
    delete_recipients(share.id, Recipient.import_id == imp.id)
    db.session.delete(imp)


def remove_recipients(share: Share) -> None:
    """Empty the draft's list, to start over."""
    delete_recipients(share.id)
    db.session.execute(RecipientImport.__table__.delete().where(RecipientImport.share_id == share.id))
    share.variables = []


def listed_recipient(share: Share, recipient_id: int) -> Recipient | None:
    """One recipient on the draft's list; None for anyone else's."""
    return db.session.scalar(select(Recipient).where(listed(share.id), Recipient.id == recipient_id))


def remove_recipient(share: Share, recipient_id: int) -> str | None:
    """Take one person off the draft's list, with their encrypted CPR.
    Returns who it was (name, or masked CPR), or None when they were not
    on it (a double click)."""
    recipient = listed_recipient(share, recipient_id)
    if recipient is None:
        return None
    who = recipient.name or recipient.cpr_masked
    delete_recipients(share.id, Recipient.id == recipient.id)
    db.session.expunge(recipient)
    return who


def fix_recipient(share: Share, recipient_id: int, first_name: str, last_name: str, language: str) -> bool:
    """Correct a listed recipient's name and language (a wrong CPR number is
    a wrong person: remove them and add the right one)."""
    recipient = listed_recipient(share, recipient_id)
    if recipient is None:
        return False
    recipient.first_name, recipient.last_name, recipient.language = first_name, last_name, language
    recipient.name_folded = fold(f"{first_name} {last_name}")
    return True


# --- storing ----------------------------------------------------------------


RECIPIENT_COLUMNS = [
    "share_id",
    "cpr_hmac",
    "cpr_masked",
    "first_name",
    "last_name",
    "name_folded",
    "language",
    "token",
    "state",
    "import_id",
]


CPR_COLUMNS = ["share_id", "cpr_hmac", "cpr_encrypted", "variables"]


CPR_HASH_PURPOSE = "recipient-cpr"


def _store(share: Share, rows: Iterable[ValidRow], import_id: int | None) -> None:
    """Recipients and their encrypted CPRs, streamed; a CPR the share has
    already is skipped in both tables (the share's de-duplication)."""
    encrypt, cpr_hash = encryptor(), hasher(CPR_HASH_PURPOSE)
    records = (
        {
            "share_id": share.id,
            "cpr_hmac": cpr_hash(r.cpr),
            "cpr_encrypted": encrypt(r.cpr),
            "cpr_masked": mask_cpr(r.cpr),
            "first_name": r.first_name,
            "last_name": r.last_name,
            "name_folded": fold(f"{r.first_name} {r.last_name}"),
            "language": r.language,
            "variables": r.variables,
            "token": new_token(),
            "state": RecipientState.PENDING.value,
            "import_id": import_id,
        }
        for r in rows
    )
    insert_skipping_conflicts(
        records,
        [(Recipient.__table__, RECIPIENT_COLUMNS), (RecipientCpr.__table__, CPR_COLUMNS)],
        conflict=["share_id", "cpr_hmac"],
    )


def import_rows(share: Share, rows: Iterable[list[str]], source: ImportSource, filename: str = "") -> RecipientImport:
    """Validate and store the rows as a pending import of the draft. Raises
    ImportRefused for a file that cannot be a recipient list, or one that
    would take the share over the limit; the caller rolls back."""
    imp = RecipientImport(share_id=share.id, source=source, filename=filename[:255])
    db.session.add(imp)
    db.session.flush()
    report, names = Report(), []
    room = max_recipients() - recipient_count(share.id)

    def valid_rows():
        for _, row in validated(rows, report, names):
            report.valid += 1
            if report.valid > room:
                raise ImportRefused(FileError.TOO_MANY)
            yield row

    _store(share, valid_rows(), imp.id)
    if report.rows == 0:
        raise ImportRefused(FileError.EMPTY)
    stored = db.session.scalar(
        select(func.count()).select_from(Recipient).where(Recipient.share_id == share.id, Recipient.import_id == imp.id)
    )
    imp.rows, imp.valid, imp.failed, imp.failures = report.rows, stored, report.failed, report.failures
    imp.duplicates = report.valid - stored
    analyzed_after(stored, Recipient.__table__, RecipientCpr.__table__)
    if names:
        share.variables = sorted(set(share.variables or []) | set(names))
    return imp


def import_file(share: Share, stream: BinaryIO, filename: str) -> RecipientImport:
    kind = sniff_kind(stream)
    rows = xlsx_rows(stream) if kind == "xlsx" else csv_rows(text_stream(stream))
    return import_rows(share, rows, ImportSource.UPLOAD, filename)


def import_text(share: Share, text: str) -> RecipientImport:
    # newline="": a lone CR ends a line, as in a file (csv needs that).
    return import_rows(share, csv_rows(io.StringIO(text, newline="")), ImportSource.PASTE)


def add_one(share: Share, row: ValidRow) -> bool:
    """One recipient typed in; False when that CPR is on the list already."""
    if recipient_count(share.id) >= max_recipients():
        raise ImportRefused(FileError.TOO_MANY)
    before = recipient_count(share.id, listed_only=False)
    _store(share, [row], None)
    return recipient_count(share.id, listed_only=False) > before
