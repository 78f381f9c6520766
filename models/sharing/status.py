"""What a confirmed share's status page reads: the counts by state, the
failure reasons, a page of the recipient table, and whether it is live."""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Integer, and_, any_, func, literal, select, text
from sqlalchemy.dialects.postgresql import ARRAY

from crypto import hasher
from extensions import db
from models.base import PER_PAGE, utcnow
from models.members import MAX_QUERY
from models.org import fold
from models.planner import indexed_part, materialized, off_index, unsteered
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


# A search of a larger share first walks its first this many rows in id order.
SEARCH_WALK = 20_000
TRIGRAM = 3


def name_matches(q: str, walking: bool = False):
    """Recipients whose folded name holds q: served by PostgreSQL's trigram
    index (ix_recipient_name_trgm), or, `walking`, tested row by row as a
    page walks the share (the planner may not take the index then)."""
    folded = fold(q)
    whole = off_index(Recipient.name_folded).contains(folded, autoescape=True)
    if walking:
        return whole
    part = indexed_part(folded)  # "mette hansen-4711": the index asked for "4711"
    looked_up = Recipient.name_folded.contains(part, autoescape=True)
    return looked_up if part == folded else and_(looked_up, whole)


def searched_page_of(query, share_id: int, q: str, page: int, per_page: int):
    """page_of for the query's recipients whose name holds q, by a plan
    that does not depend on the planner guessing how common q is.

    Up to SEARCH_WALK rows (of the share, or of a state) are walked whole.
    More: the first SEARCH_WALK are walked; a common name fills the page
    there, and the total is then "more than" the rows up to the page's end
    (counting every match of a common name would read the share). A rare
    name does not: its matches in the share are taken from the trigram
    index (few, by then), then paged and counted exactly. Without the index
    (SQLite, or a search under three characters) the share is walked on."""
    # The walk's end: the id SEARCH_WALK rows into what the query lists (a
    # state filter's own rows, read off its index).
    bound = db.session.scalar(query.with_only_columns(Recipient.id).order_by(Recipient.id).offset(SEARCH_WALK).limit(1))
    if bound is None:
        return page_of(query.where(name_matches(q, walking=True)), page, per_page)
    offset = (page - 1) * per_page
    walked = db.session.scalars(
        query.where(Recipient.id < bound, name_matches(q, walking=True))
        .order_by(Recipient.id)
        .limit(per_page + 1)
        .offset(offset)
    ).all()
    if len(walked) > per_page:
        return walked[:per_page], offset + per_page, False, True
    if len(fold(q)) < TRIGRAM or not has_name_index():  # nothing to look up: walk on
        return page_of(query.where(name_matches(q, walking=True)), page, per_page)
    # The share's matches from the trigram index alone (the share's own
    # index kept out: PostgreSQL read all of it to AND with), computed first
    # and sorted; then the query's other conditions, by primary key. Left to
    # join them, the planner walked the share and probed the matches.
    found = materialized(
        select(Recipient.id.label("id")).where(unsteered(Recipient.share_id) == share_id, name_matches(q)).cte("found")
    )
    ids = db.session.scalars(select(found.c.id).order_by(found.c.id)).all()
    kept = db.session.scalars(
        query.with_only_columns(Recipient.id)
        .where(Recipient.id == any_(literal(ids, ARRAY(Integer))))
        .order_by(Recipient.id)
    ).all()
    chosen = kept[offset : offset + per_page]
    rows = db.session.scalars(select(Recipient).where(Recipient.id.in_(chosen)).order_by(Recipient.id)).all()
    return rows, len(kept), True, len(kept) > offset + per_page


_name_index: dict[str, bool] = {}


def has_name_index() -> bool:
    """Whether the database has ix_recipient_name_trgm (PostgreSQL with
    pg_trgm; see its migration), asked once per database."""
    url = db.engine.url.render_as_string()
    if url not in _name_index:
        _name_index[url] = db.engine.dialect.name == "postgresql" and bool(
            db.session.scalar(text("SELECT 1 FROM pg_indexes WHERE indexname = 'ix_recipient_name_trgm'"))
        )
    return _name_index[url]


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
        rows, total, exact, has_next = searched_page_of(query, share.id, q, page, PER_PAGE)
    else:
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
    if q and not by_cpr:
        rows, total, exact, has_next = searched_page_of(query, share.id, q, page, per_page)
    else:
        if by_cpr:
            query = query.where(Recipient.cpr_hmac == hasher(CPR_HASH_PURPOSE)(digits))
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
