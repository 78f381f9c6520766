"""A share's counts are kept by the database (share_tally, by triggers on
recipient and delivery): after every step a share goes through they equal
what counting its recipients says, on both databases, and a deleted share
leaves none behind."""

from sqlalchemy import func, select

from extensions import get_queue
from jobs.sending import send_round
from models import Recipient, ScheduledSend, ShareTally, db
from models.base import utcnow
from models.sharing import RecipientState, TallyName
from models.sharing.lifecycle import discard_draft
from models.sharing.status import state_counts
from tests.test_results import LIST, answer, link_of
from tests.test_sharing import CPRS, compose, confirm, share_of, start_draft, survey, with_access  # noqa: F401


def counted(share_id: int) -> dict[str, int]:
    """What the tally should say, counted the slow way."""
    mine = Recipient.share_id == share_id
    counts = dict(db.session.execute(select(Recipient.state, func.count()).where(mine).group_by(Recipient.state)).all())
    counts[TallyName.RESPONDED] = db.session.scalar(
        select(func.count()).where(mine, Recipient.responded_at.is_not(None))
    )
    counts[TallyName.IN_MAILBOX] = db.session.scalar(
        select(func.count()).where(mine, (Recipient.state == RecipientState.DELIVERED) | Recipient.in_mailbox)
    )
    return {k: v for k, v in counts.items() if v}


def tally(share_id: int) -> dict[str, int]:
    rows = db.session.execute(select(ShareTally.name, ShareTally.n).where(ShareTally.share_id == share_id)).all()
    return {name: n for name, n in rows if n}


def test_the_tally_follows_a_share_from_its_list_to_the_last_answer(
    as_member, survey, with_access, sandbox, run_jobs, client
):
    draft, schedule = compose(as_member, survey, LIST, reminders=[3])
    share = share_of(draft)
    as_member.post(draft + "/recipients/paste", {"text": "0404901234\n3213901234"}, htmx=True)  # a pending import
    assert tally(share.id) == counted(share.id) == {"pending": 4}  # the draft's rows, listed or not
    confirm(as_member, draft, schedule)  # the import never accepted leaves with it
    assert tally(share.id) == counted(share.id) == {"pending": 3}
    run_jobs()  # the invitation, and the sandbox's receipts: in the mailbox
    db.session.expire_all()
    assert tally(share.id) == counted(share.id)
    assert state_counts(share)["in_mailbox"] == 3 and state_counts(share)["delivered"] == 3
    answer(client, link_of(sandbox, CPRS[0]), survey, 0, "Mere kaffe")
    assert tally(share.id) == counted(share.id) == {"delivered": 2, "responded": 1, "responded_at": 1, "in_mailbox": 3}
    reminder = share.rounds[1]
    db.session.execute(db.update(ScheduledSend).where(ScheduledSend.id == reminder.id).values(send_at=utcnow()))
    db.session.commit()
    get_queue().enqueue(send_round, reminder.id)
    run_jobs()
    answer(client, link_of(sandbox, CPRS[1]), survey, 2)
    db.session.expire_all()
    assert tally(share.id) == counted(share.id) == {"delivered": 1, "responded": 2, "responded_at": 2, "in_mailbox": 3}
    counts = state_counts(share)
    assert (counts["total"], counts["invited"], counts["responded"], counts["reminded"]) == (3, 3, 2, 2)


def test_a_deleted_draft_leaves_no_tally(as_member, survey, with_access):
    draft = start_draft(as_member, survey)
    as_member.post(draft + "/recipients/paste", {"text": "0101901234\n0202901234"}, htmx=True)
    share = share_of(draft)
    assert tally(share.id) == {"pending": 2}
    assert discard_draft(share)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(ShareTally)) == 0
