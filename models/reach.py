"""The reach of a draft: which recipients get Digital Post, which are exempt
(fritaget) and which are not known, from the registration lookup, and what
the member chose for the exempt.

The worker looks the recipients up (jobs/reach.py) and records one
Registration per recipient; only that state and the counts are kept, never
a CPR in clear. These verbs are the only writers of a share's reach.
"""

import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select, update

from digitalpost.transport import Registration
from extensions import db
from models.sharing import ExemptChoice, ReachState, Recipient, RecipientCpr, Share
from models.sharing.recipients import listed

# Crockford's base 32 without the letters people misread: a code a citizen types from paper.
PAPER_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
PAPER_CODE_LENGTH = 8


@dataclass(frozen=True)
class Reach:
    digital: int
    exempt: int
    not_found: int
    unchecked: int
    state: ReachState | None
    error: str | None
    paper_possible: bool  # the integration may send paper
    choice: ExemptChoice

    @property
    def checked(self) -> int:
        return self.digital + self.exempt + self.not_found

    @property
    def total(self) -> int:
        return self.checked + self.unchecked

    @property
    def checking(self) -> bool:
        return self.state == ReachState.CHECKING

    @property
    def paper_letters(self) -> int:
        return self.exempt if self.paper_possible and self.choice == ExemptChoice.PAPER else 0


def reach_of(share: Share, paper_possible: bool) -> Reach:
    rows = dict(
        db.session.execute(
            select(Recipient.registration, func.count()).where(listed(share.id)).group_by(Recipient.registration)
        ).all()
    )
    return Reach(
        digital=rows.get(Registration.DIGITAL, 0),
        exempt=rows.get(Registration.EXEMPT, 0),
        not_found=rows.get(Registration.NOT_FOUND, 0),
        unchecked=rows.get(None, 0),
        state=ReachState(share.reach_state) if share.reach_state else None,
        error=share.reach_error,
        paper_possible=paper_possible,
        choice=ExemptChoice(share.exempt_choice or ExemptChoice.LEAVE_OUT),
    )


def start_reach_check(share: Share) -> bool:
    """Mark the draft's reach as being checked, unless it is already; True
    when the caller should enqueue the lookup job (after commit). A
    conditional UPDATE, so two summaries opened at once start one job."""
    if not share.is_draft:
        return False
    started = db.session.execute(
        update(Share)
        .where(Share.id == share.id, (Share.reach_state.is_(None)) | (Share.reach_state != ReachState.CHECKING))
        .values(reach_state=ReachState.CHECKING, reach_error=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(share)
    return bool(started)


def unchecked_batch(share_id: int, after_id: int, size: int):
    """The next recipients of the draft not yet looked up: (id, encrypted CPR)."""
    return db.session.execute(
        select(Recipient.id, RecipientCpr.cpr_encrypted)
        .join(
            RecipientCpr, (RecipientCpr.share_id == Recipient.share_id) & (RecipientCpr.cpr_hmac == Recipient.cpr_hmac)
        )
        .where(listed(share_id), Recipient.registration.is_(None), Recipient.id > after_id)
        .order_by(Recipient.id)
        .limit(size)
    ).all()


def record_registrations(share_id: int, found: list[tuple[int, Registration]]) -> None:
    """The lookup's answers for a batch; an exempt recipient gets the short
    code its printed letter will carry. The caller commits."""
    if not found:
        return
    table = Recipient.__table__
    db.session.execute(
        update(table)
        .where(table.c.id == bindparam("r_id"), table.c.share_id == share_id)
        .values(registration=bindparam("r_registration")),
        [{"r_id": rid, "r_registration": str(reg)} for rid, reg in found],
    )
    for rid, reg in found:
        if reg == Registration.EXEMPT:
            ensure_paper_code(rid)


def record_exempt(recipient_id: int, conn) -> None:
    """Digital Post said so when a letter was sent: kept, so that a repeat of
    the send (after a crash) goes on paper as the first one did."""
    table = Recipient.__table__
    conn.execute(update(table).where(table.c.id == recipient_id).values(registration=str(Registration.EXEMPT)))


def ensure_paper_code(recipient_id: int, conn=None) -> str:
    """The recipient's short code for a printed letter, made once and kept:
    the same letter printed twice carries the same code. conn: a connection
    of its own, when the code must be committed before the letter goes."""
    conn = conn if conn is not None else db.session
    table = Recipient.__table__
    code = conn.scalar(select(table.c.paper_code).where(table.c.id == recipient_id))
    while code is None:
        candidate = "".join(secrets.choice(PAPER_CODE_ALPHABET) for _ in range(PAPER_CODE_LENGTH))
        if conn.scalar(select(func.count()).select_from(table).where(table.c.paper_code == candidate)):
            continue  # taken: 30^8 codes make this rare
        conn.execute(
            update(table).where(table.c.id == recipient_id, table.c.paper_code.is_(None)).values(paper_code=candidate)
        )
        code = conn.scalar(select(table.c.paper_code).where(table.c.id == recipient_id))
    return code


def finish_reach_check(share_id: int, state: ReachState, error: str | None = None) -> None:
    """The check ends (done, or failed with the gateway's code). The caller commits."""
    db.session.execute(
        update(Share)
        .where(Share.id == share_id, Share.reach_state == ReachState.CHECKING)
        .values(reach_state=state, reach_error=error)
        .execution_options(synchronize_session=False)
    )


def choose_for_exempt(share: Share, choice: ExemptChoice, paper_possible: bool) -> ExemptChoice:
    """The member's choice for the exempt; paper only where the integration
    allows it. The caller commits."""
    if choice == ExemptChoice.PAPER and not paper_possible:
        choice = ExemptChoice.LEAVE_OUT
    share.exempt_choice = choice
    return choice


def recipient_for_paper_code(code: str) -> Recipient | None:
    code = (code or "").strip().upper()
    if len(code) != PAPER_CODE_LENGTH or any(c not in PAPER_CODE_ALPHABET for c in code):
        return None
    return db.session.scalar(select(Recipient).where(Recipient.paper_code == code))
