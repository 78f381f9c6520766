"""flask create-org, create-user, set-password, set-role, seed-demo, worker and embedded-redis."""

import random

import click
from flask import current_app
from sqlalchemy import func, insert, select

from crypto import rotate
from extensions import embedded_dir, refresh_statistics, stop_embedded_redis
from jobs.worker import run_worker
from models import DigitalPostIntegration, Membership, Organization, Role, Survey, User, db
from models.org import fold
from models.search_order import cut_search_buckets, order_search_index
from models.sharing import RecipientCpr
from models.survey import QuestionKind, SurveyState, add_question

DEMO_ORG = "Demo Kommune"
DEMO_ADMIN = ("admin@demo.postbud.dk", "Anne Admin", "demo-admin-1234")
DEMO_MEMBER = ("member@demo.postbud.dk", "Mads Medlem", "demo-member-1234")
DEMO_MEMBER_COUNT = 2000
DEPARTMENTS = [
    "Borgerservice",
    "Børn og Unge",
    "Ældreområdet",
    "Teknik og Miljø",
    "Kultur og Fritid",
    "Jobcenter",
    "Skoleområdet",
    "Sundhed",
    "Økonomi",
    "HR",
]


def register(app):
    app.cli.add_command(create_org)
    app.cli.add_command(create_user)
    app.cli.add_command(seed_demo)
    app.cli.add_command(worker)
    app.cli.add_command(set_password)
    app.cli.add_command(set_role)
    app.cli.add_command(embedded_redis)
    app.cli.add_command(rotate_encryption_key)


def _existing_user(email: str) -> User:
    user = db.session.scalar(select(User).where(User.email == User.normalize_email(email)))
    if user is None:
        raise click.ClickException(f"No user with the e-mail {email}.")
    return user


@click.command("set-password")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def set_password(email, password):
    """Give a user a new password; every session of theirs ends."""
    _existing_user(email).set_password(password)
    db.session.commit()
    click.echo("Password changed; the user's sessions have ended.")


@click.command("set-role")
@click.argument("email")
@click.argument("org_id", type=int)
@click.argument("role", type=click.Choice([r.value for r in Role]))
def set_role(email, org_id, role):
    """Make a member an admin of an organization, or no longer one."""
    user = _existing_user(email)
    membership = user.membership_in(org_id)
    if membership is None:
        raise click.ClickException(f"{email} is not a member of organization {org_id}.")
    changed = membership.change_role(role)
    db.session.commit()
    click.echo(f"{email} is {role} in organization {org_id}" + ("." if changed else " already."))


@click.group("embedded-redis")
def embedded_redis():
    """The embedded Redis server under instance/ (used when REDIS_URL is unset)."""


@embedded_redis.command("stop")
def embedded_redis_stop():
    """Stop it, saving its data; the next process that needs it starts it again."""

    if current_app.config["REDIS_URL"]:
        raise click.ClickException("REDIS_URL is set: there is no embedded Redis to stop.")
    click.echo(
        "Embedded Redis stopped."
        if stop_embedded_redis(embedded_dir(current_app))
        else "Embedded Redis was not running."
    )


@click.command("create-org")
@click.argument("name")
def create_org(name):
    """Create an organization and print its id."""
    org = Organization(name=name)
    db.session.add(org)
    db.session.commit()
    click.echo(f"Organization {org.id}: {org.name}")


@click.command("create-user")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--org", "org_id", type=int, help="Organization id to join.")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.MEMBER.value)
@click.option("--department", default="")
@click.option("--language", type=click.Choice(["da", "en"]), default="da")
def create_user(email, name, password, org_id, role, department, language):
    """Create a user, optionally as a member of an organization."""
    email = User.normalize_email(email)
    if db.session.scalar(select(User).filter_by(email=email)):
        raise click.ClickException(f"A user with e-mail {email} exists already.")
    org = None
    if org_id is not None:  # checked first, so a refusal leaves nothing behind
        org = db.session.get(Organization, org_id)
        if org is None:
            raise click.ClickException(f"No organization with id {org_id}.")
    user = User(email=email, name=name, language=language)
    user.set_password(password)
    db.session.add(user)
    if org is not None:
        Membership.create(org, user, role=role, department=department)
    db.session.commit()
    click.echo(f"User {user.id}: {user.email}" + (f" ({role} in {org_id})" if org_id else ""))


def _user(email, name, password, language="da"):
    user = db.session.scalar(select(User).filter_by(email=email))
    if user is None:
        user = User(email=email, name=name, language=language)
        user.set_password(password)
        db.session.add(user)
    return user


@click.command("seed-demo")
@click.option("--members", default=DEMO_MEMBER_COUNT, show_default=True)
def seed_demo(members):
    """Create the demo organization, its admin and member, and many members. Idempotent."""
    org = db.session.scalar(select(Organization).filter_by(name=DEMO_ORG))
    if org is None:
        org = Organization(name=DEMO_ORG)
        db.session.add(org)
    admin = _user(*DEMO_ADMIN)
    member = _user(*DEMO_MEMBER)
    db.session.flush()
    for user, role, dept in ((admin, Role.ADMIN, "Borgerservice"), (member, Role.MEMBER, "Sundhed")):
        if user.membership_in(org.id) is None:
            Membership.create(org, user, role=role.value, department=dept)
    if not db.session.scalar(select(func.count()).select_from(Survey).filter_by(owner_id=member.id)):
        _demo_surveys(org, member)
    db.session.flush()
    existing = db.session.scalar(select(func.count()).select_from(Membership).filter_by(org_id=org.id)) - 2
    if existing < members:
        _bulk_members(org, members - existing, start=existing)
        # Inserted in no order, many lost their place in the search's name
        # order (models.search_order): numbered anew, all of them.
        order_search_index(org.id)
        cut_search_buckets(org.id)
    db.session.commit()
    refresh_statistics(bulk_load=True)  # a bulk load: the search is planned on fresh statistics from the first request
    click.echo(f"Demo organization {org.id}: {org.name}")
    click.echo(f"  admin:  {DEMO_ADMIN[0]} / {DEMO_ADMIN[2]}")
    click.echo(f"  member: {DEMO_MEMBER[0]} / {DEMO_MEMBER[2]}")


def _demo_surveys(org, member):
    """One open survey ready to share, and two drafts."""

    survey = Survey(
        org_id=org.id,
        owner_id=member.id,
        title="Tilfredshed med borgerservice 2026",
        introduction="Vi vil gerne høre, hvordan du oplevede dit seneste besøg i Borgerservice.",
        anonymous=True,
        state=SurveyState.OPEN,
    )
    db.session.add(survey)
    add_question(
        survey,
        QuestionKind.SINGLE_CHOICE,
        "Hvor tilfreds var du med besøget?",
        ["Meget tilfreds", "Tilfreds", "Hverken eller", "Utilfreds", "Meget utilfreds"],
    )
    add_question(survey, QuestionKind.FREE_TEXT, "Hvad kan vi gøre bedre?", [])
    for title in ("Trivsel i hjemmeplejen", "Brugerundersøgelse: bibliotekerne"):
        db.session.add(Survey(org_id=org.id, owner_id=member.id, title=title))


def _bulk_members(org, count, start=0):
    """Insert many members in a few statements: an ORM loop costs seconds here."""
    from faker import Faker  # only the demo data needs it: not loaded by every command

    fake = Faker("da_DK")
    Faker.seed(4242 + start)
    rng = random.Random(start)
    users = []
    for i in range(start, start + count):
        name = fake.name()
        users.append({"email": f"medlem{i:06d}@demo.postbud.dk", "name": name, "language": "da", "password_hash": None})
    db.session.execute(insert(User), users)
    ids = {}
    for at in range(0, len(users), 10_000):  # PostgreSQL takes at most 65,535 parameters a statement
        emails = [u["email"] for u in users[at : at + 10_000]]
        ids.update(db.session.execute(select(User.email, User.id).where(User.email.in_(emails))).all())
    # RETURNING makes SQLAlchemy send multi-row INSERTs (a thousand rows
    # each): the member count trigger then runs once per thousand, not once
    # per member (PostgreSQL, per statement).
    db.session.execute(
        insert(Membership).returning(Membership.id),
        [
            {
                "org_id": org.id,
                "user_id": ids[u["email"]],
                "role": Role.MEMBER,
                "department": rng.choice(DEPARTMENTS),
                "name_folded": fold(u["name"]),
                "email": u["email"],
            }
            for u in users
        ],
    )


@click.command("rotate-encryption-key")
@click.option("--batch", default=1000, show_default=True)
def rotate_encryption_key(batch):
    """Re-encrypt every secret at rest under the newest of ENCRYPTION_KEYS.

    Put the new key first in ENCRYPTION_KEYS, keeping the old ones after it,
    deploy, run this once, then drop the old keys. Safe to run again or to
    interrupt: each batch is committed, and a value already under the newest
    key is simply rotated again."""

    done = 0
    for integration in db.session.scalars(select(DigitalPostIntegration)).all():
        for column in (
            "api_key_encrypted",
            "pending_api_key_encrypted",
            "certificate_encrypted",
            "pending_certificate_encrypted",
        ):
            if getattr(integration, column):
                setattr(integration, column, rotate(getattr(integration, column)))
                done += 1
    db.session.commit()
    table = RecipientCpr.__table__
    last = (0, "")
    while True:
        rows = db.session.execute(
            select(table.c.share_id, table.c.cpr_hmac, table.c.cpr_encrypted)
            .where(db.tuple_(table.c.share_id, table.c.cpr_hmac) > db.tuple_(*last))
            .order_by(table.c.share_id, table.c.cpr_hmac)
            .limit(batch)
        ).all()
        if not rows:
            break
        db.session.execute(
            table.update()
            .where(table.c.share_id == db.bindparam("s_id"), table.c.cpr_hmac == db.bindparam("h"))
            .values(cpr_encrypted=db.bindparam("token")),
            [{"s_id": r.share_id, "h": r.cpr_hmac, "token": rotate(r.cpr_encrypted)} for r in rows],
        )
        db.session.commit()
        done += len(rows)
        last = (rows[-1].share_id, rows[-1].cpr_hmac)
    click.echo(f"Re-encrypted {done} values under the newest key.")


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst):
    """Run the rq worker (with its scheduler) inside the application context."""

    run_worker(current_app._get_current_object(), burst=burst)
