"""Organizations, users and who belongs where."""

import secrets
from datetime import datetime
from enum import StrEnum
from functools import lru_cache

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint, update
from sqlalchemy.orm import Mapped, joinedload, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from extensions import db
from models.base import UTCDateTime, code_point_text, utcnow


def _method() -> str:
    # scrypt (Werkzeug's default, memory-hard) unless a setting says otherwise:
    # the tests use a cheap one.
    return current_app.config["PASSWORD_HASH_METHOD"]


@lru_cache(maxsize=4)
def _unusable_hash(method: str) -> str:
    # A hash of a random password, made once per process with the same
    # method and cost as real ones.
    return generate_password_hash(secrets.token_urlsafe(16), method=method)


def fold(text: str) -> str:
    """Case-fold for search and sorting; casefold() handles Æ/Ø/Å, unlike SQL lower()."""
    return " ".join(text.casefold().split())


DEPARTMENT_MAX = 100


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"

    @property
    def label(self) -> str:
        return str({Role.ADMIN: _l("Admin"), Role.MEMBER: _l("Member")}[self])


class Organization(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Kept by triggers on membership (models/triggers.py),
    # never written here: read it fresh (access_state) rather than from a
    # loaded object.
    member_count: Mapped[int] = mapped_column(default=0, server_default="0")

    memberships = relationship("Membership", back_populates="organization", lazy="dynamic")

    def __repr__(self):
        return f"<Organization {self.id} {self.name!r}>"


class DepartmentCount(db.Model):
    """Members per department of an organization, kept by triggers on
    membership (models/triggers.py), never written here: the member table
    filtered by a department knows its size without counting."""

    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True)
    department: Mapped[str] = mapped_column(String(DEPARTMENT_MAX), primary_key=True)
    members: Mapped[int]


class MemberBlock(db.Model):
    """An organization's members as bit blocks (models/bitblocks.py), kept
    by triggers on membership (models/triggers.py), never written here: a
    grant to every member reads its 1,600 rows at 100,000 members instead of
    aggregating 100,000 membership rows."""

    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True)
    block: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    bits: Mapped[int] = mapped_column(BigInteger)
    members: Mapped[int]


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(5), default="da")
    # Part of the id every session and remember cookie carries: raising it
    # ends all of the user's sessions at once (logout, new password, lost role).
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    memberships = relationship("Membership", back_populates="user", lazy="selectin")

    @staticmethod
    def normalize_email(email: str) -> str:
        return email.strip().lower()

    def rename(self, name: str | None = None, email: str | None = None) -> None:
        """Change the user's name or e-mail, and the copies every membership
        keeps for the member table (Membership.name_folded, .email), in the
        caller's transaction: the copies are never written anywhere else."""
        if name is not None:
            self.name = name
        if email is not None:
            self.email = self.normalize_email(email)
        db.session.execute(
            update(Membership)
            .where(Membership.user_id == self.id)
            .values(name_folded=fold(self.name), email=self.email)
            .execution_options(synchronize_session="fetch")
        )

    def set_password(self, password: str) -> None:
        # Werkzeug's default is scrypt, a memory-hard KDF.
        self.password_hash = generate_password_hash(password, method=_method())
        if self.id is not None:
            self.end_sessions()

    def check_password(self, password: str) -> bool:
        if not self.password_hash:
            return User.check_no_password(password)
        return check_password_hash(self.password_hash, password)

    @staticmethod
    def check_no_password(password: str) -> bool:
        """For an unknown e-mail: the same scrypt work as a real check, so the
        answer's timing does not tell which accounts exist. Always False."""
        check_password_hash(_unusable_hash(_method()), password)
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version or 0}"

    @classmethod
    def from_session_id(cls, session_id: str) -> "User | None":
        """The user a session's id names, if that session has not been ended."""
        user_id, _, version = (session_id or "").partition(":")
        if not (user_id.isascii() and user_id.isdigit() and version.isascii() and version.isdigit()):
            return None
        # With memberships and organizations in the same query: every
        # organization page needs them, and a round trip is dear.
        user = db.session.get(cls, int(user_id), options=[joinedload(cls.memberships)]) if len(user_id) < 19 else None
        if user is None or (user.session_version or 0) != int(version):
            return None
        return user

    def end_sessions(self) -> None:
        """Every session and remember cookie of this user stops working; the
        caller commits. An UPDATE of the column, so parallel calls add up."""
        self.session_version = User.session_version + 1

    def membership_in(self, org_id: int) -> "Membership | None":
        # The memberships come with the user (selectin, organizations joined):
        # no query of its own on every organization page.
        return next((m for m in self.memberships if m.org_id == org_id), None)

    def __repr__(self):
        return f"<User {self.id} {self.email}>"


class Membership(db.Model):
    """A user in an organization. name_folded and email are copies of the
    user's, kept so that the member table can search, filter and sort within
    one organization on indexes of this table alone."""

    __table_args__ = (
        UniqueConstraint("org_id", "user_id"),
        # id before email: the index gives the (name, id) order of the table,
        # and e-mail is there for the text search to read without the table.
        Index("ix_membership_org_name", "org_id", "name_folded", "id", "email"),
        Index("ix_membership_org_email", "org_id", "email", "id"),
        # id last here too: a department's ids come off the index alone.
        Index("ix_membership_org_department", "org_id", "department", "name_folded", "id"),
        Index("ix_membership_org_role", "org_id", "role", "name_folded", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(10), default=Role.MEMBER)
    department: Mapped[str] = mapped_column(String(DEPARTMENT_MAX), default="")
    name_folded: Mapped[str] = mapped_column(code_point_text(200), default="")
    email: Mapped[str] = mapped_column(code_point_text(254), default="")
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organization = relationship("Organization", back_populates="memberships", lazy="joined")
    user = relationship("User", back_populates="memberships")

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @classmethod
    def create(cls, org: Organization, user: User, role: str = Role.MEMBER, department: str = ""):
        m = cls(
            organization=org, user=user, role=role, department=department, name_folded=fold(user.name), email=user.email
        )
        db.session.add(m)
        return m

    def change_role(self, role: str) -> bool:
        """Set this membership's role; returns whether it changed. Losing the
        admin role ends the user's sessions, so no open page keeps its power.
        The caller commits."""
        if role == self.role:
            return False
        if self.role == Role.ADMIN:
            self.user.end_sessions()
        self.role = role
        return True

    def __repr__(self):
        return f"<Membership org={self.org_id} user={self.user_id} {self.role}>"
