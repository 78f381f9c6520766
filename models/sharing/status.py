"""What a confirmed share's status page reads: the counts by state, the
failure reasons, a page of the recipient table, and whether it is live."""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from crypto import hasher
from extensions import db
from models.base import PER_PAGE, utcnow
from models.members import MAX_QUERY
from models.org import fold
from models.sharing import (
    Delivery,
    DeliveryState,
    Recipient,
    RecipientState,
    RoundKind,
    SendState,
    Share,
    ShareTally,
    TallyName,
)
from models.sharing.recipients import CPR_HASH_PURPOSE, listed


def state_counts(share: Share) -> dict[str, int]:
    """Recipients by state, plus delivery outcomes of the rounds. Pending
    recipients of a cancelled invitation count as cancelled. Read off
    share_tally, which the database keeps in step with the recipients."""
    tally = dict(db.session.execute(select(ShareTally.name, ShareTally.n).where(ShareTally.share_id == share.id)).all())
    result = {s.value: tally.get(s.value, 0) for s in RecipientState}
    result["total"] = sum(result.values())
    # Answers are counted by responded_at: an anonymous survey's recipients
    # keep their delivery state when they answer.
    result[RecipientState.RESPONDED.value] = tally.get(TallyName.RESPONDED, 0)
    invitation = share.invitation
    result["cancelled"] = 0
    if invitation is not None and invitation.state in (SendState.CANCELLED, SendState.FAILED):
        result["cancelled"] = result["pending"]
        result["pending"] = 0
    # Round by round, on the deliveries' (round, state) index: a join from
    # the rounds let the planner walk every delivery of the share.
    reminders = [r.id for r in share.rounds if r.kind == RoundKind.REMINDER]
    result["reminded"] = (
        db.session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.round_id.in_(reminders), Delivery.state == DeliveryState.SENT)
        )
        if reminders
        else 0
    )
    # Those the invitation reached the gateway for: whoever is not waiting,
    # cancelled, failed or left out. The response rate is of them.
    result["invited"] = result["total"] - sum(result[k] for k in ("pending", "cancelled", "failed", "left_out"))
    # Not exclusive, like "invited": everyone whose letter reached the mailbox,
    # whatever they did after (answered, declined, answered anonymously).
    result["in_mailbox"] = tally.get(TallyName.IN_MAILBOX, 0)
    return result


def failure_reasons(share: Share) -> dict[str, int]:
    return dict(
        db.session.execute(
            select(Recipient.error, func.count())
            .where(Recipient.share_id == share.id, Recipient.state == RecipientState.FAILED)
            .group_by(Recipient.error)
        ).all()
    )


STATE_FILTERS = [s.value for s in RecipientState]
# An anonymous survey's recipients never read "responded": see docs/anonymity.md.
ANONYMOUS_STATE_FILTERS = [s for s in STATE_FILTERS if s != RecipientState.RESPONDED]
# Counting matches stops here; the table says "more than" beyond it.
COUNT_CAP = 10_000


def name_matches(q: str):
    """Recipients whose folded name holds q, tested row by row as the page
    walks the share in id order (no index serves a substring)."""
    return Recipient.name_folded.contains(fold(q), autoescape=True)


def page_of(query, page: int, per_page: int) -> tuple[list[Recipient], int, bool, bool]:
    """A page of the query's recipients by id, how many match, whether that
    is exact (else counting stopped past COUNT_CAP), and whether a next
    page follows. The page that
    ends the matches knows their number without a second pass: a search
    that finds few or none, the slowest kind, reads the share once."""
    rows = db.session.scalars(query.order_by(Recipient.id).limit(per_page + 1).offset((page - 1) * per_page)).all()
    if len(rows) <= per_page and (rows or page == 1):
        return rows, (page - 1) * per_page + len(rows), True, False
    capped = query.with_only_columns(Recipient.id).limit(COUNT_CAP + 1).subquery()
    total = db.session.scalar(select(func.count()).select_from(capped))
    return rows[:per_page], min(total, COUNT_CAP), total <= COUNT_CAP, len(rows) > per_page


@dataclass
class RecipientPage:
    rows: list[Recipient]
    letters: dict  # recipient id: how their invitation went (invitation_letters)
    state: str  # the state filter, "" for all
    q: str
    page: int
    total: int  # at most COUNT_CAP
    total_exact: bool
    first: int  # the first row's number
    has_next: bool
    states: list[str]  # the filters this share offers
    invitation_stopped: bool

    @property
    def state_labels(self) -> dict[str, str]:
        return {s.value: s.label for s in RecipientState}


def recipient_page(share: Share, state: str, q: str, page: int) -> RecipientPage:
    """A page of a confirmed share's recipients, by state and name. A state
    the share does not offer, or a page out of range, reads as none."""
    filters = ANONYMOUS_STATE_FILTERS if share.survey.anonymous else STATE_FILTERS
    state = state if state in filters else ""
    q = q.strip()[:MAX_QUERY]
    query = select(Recipient).where(Recipient.share_id == share.id)  # a confirmed share: all are listed
    if state:
        query = query.where(Recipient.state == state)
    if q:
        query = query.where(name_matches(q))
    rows, total, exact, has_next = page_of(query, page, PER_PAGE)
    return RecipientPage(
        rows=rows,
        letters=invitation_letters(share, rows),
        state=state,
        q=q,
        page=page,
        total=total,
        total_exact=exact,
        first=(page - 1) * PER_PAGE + 1,
        has_next=has_next,
        states=filters,
        invitation_stopped=share.invitation is not None
        and share.invitation.state in (SendState.CANCELLED, SendState.FAILED),
    )


@dataclass
class DraftPage:
    """A page of the draft's list, by name or CPR number."""

    rows: list[Recipient]
    q: str
    page: int
    total: int  # at most COUNT_CAP
    total_exact: bool
    first: int
    has_next: bool
    by_cpr: bool = False  # q was a CPR number: never written back into the page

    @property
    def link_q(self) -> str:
        """The search as links and the search box may carry it."""
        return "" if self.by_cpr else self.q


def draft_page(share: Share, q: str, page: int, per_page: int = PER_PAGE) -> DraftPage:
    """A page of the draft's listed recipients matching q: a part of the name, or a whole CPR
    number (found by its hash: the list holds no CPR in clear)."""
    q = q.strip()[:MAX_QUERY]
    query = select(Recipient).where(listed(share.id))
    digits = q.replace("-", "").replace(" ", "")
    by_cpr = len(digits) == 10 and digits.isascii() and digits.isdigit()
    if q:
        if by_cpr:
            query = query.where(Recipient.cpr_hmac == hasher(CPR_HASH_PURPOSE)(digits))
        else:
            query = query.where(name_matches(q))
    rows, total, exact, has_next = page_of(query, page, per_page)
    return DraftPage(
        rows=rows,
        q=q,
        page=page,
        total=total,
        total_exact=exact,
        first=(page - 1) * per_page + 1,
        has_next=has_next,
        by_cpr=by_cpr,
    )


def invitation_letters(share: Share, rows) -> dict:
    """How each shown recipient's invitation went: on paper or digitally,
    and what the broker's receipt said (SF1601)."""
    if share.invitation is None or not rows:
        return {}
    found = db.session.execute(
        select(Delivery.recipient_id, Delivery.channel, Delivery.receipt, Delivery.receipt_text).where(
            Delivery.round_id == share.invitation.id, Delivery.recipient_id.in_([r.id for r in rows])
        )
    ).all()
    return {row.recipient_id: row for row in found}


def is_sending(share: Share) -> bool:
    """A round runs, or starts within a minute."""
    soon = utcnow() + timedelta(seconds=60)
    return any(
        r.state == SendState.RUNNING or (r.state == SendState.SCHEDULED and r.send_at <= soon) for r in share.rounds
    )


def is_live(share: Share) -> bool:
    """Whether the status page should poll: a round is sending, or a look at
    its receipts is due within a minute (the letters then move from sent to
    delivered on the open page)."""
    soon = utcnow() + timedelta(seconds=60)
    return is_sending(share) or any(r.check_at is not None and r.check_at <= soon for r in share.rounds)
