"""Organizations, users and who belongs where."""
from datetime import datetime
import enum

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from extensions import db
from models.base import UTCDateTime, utcnow


def fold(text: str) -> str:
    """Case-fold for search and sorting; casefold() handles Æ/Ø/Å, unlike SQL lower()."""
    return " ".join(text.casefold().split())


class Role(str, enum.Enum):
    ADMIN = "admin"
    MEMBER = "member"


class Organization(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    memberships = relationship("Membership", back_populates="organization", lazy="dynamic")

    def __repr__(self):
        return f"<Organization {self.id} {self.name!r}>"


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(5), default="da")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    memberships = relationship("Membership", back_populates="user", lazy="selectin")

    @staticmethod
    def normalize_email(email: str) -> str:
        return email.strip().lower()

    def set_password(self, password: str) -> None:
        # Werkzeug's default is scrypt, a memory-hard KDF.
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def membership_in(self, org_id: int) -> "Membership | None":
        return db.session.scalar(
            select(Membership).where(Membership.user_id == self.id, Membership.org_id == org_id)
        )

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
        Index("ix_membership_org_department", "org_id", "department", "name_folded"),
        Index("ix_membership_org_role", "org_id", "role", "name_folded"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(10), default=Role.MEMBER.value)
    department: Mapped[str] = mapped_column(String(100), default="")
    name_folded: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organization = relationship("Organization", back_populates="memberships")
    user = relationship("User", back_populates="memberships")

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN.value

    @classmethod
    def create(cls, org: Organization, user: User, role: str = Role.MEMBER.value, department: str = ""):
        m = cls(organization=org, user=user, role=role, department=department,
                name_folded=fold(user.name), email=user.email)
        db.session.add(m)
        return m

    def copy_user_fields(self) -> None:
        self.name_folded = fold(self.user.name)
        self.email = self.user.email

    def __repr__(self):
        return f"<Membership org={self.org_id} user={self.user_id} {self.role}>"
