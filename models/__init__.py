"""The data model. Import models from here: `from models import db, User`."""

from extensions import db
from models.access import AccessBlock, AuditMemberBlock
from models.audit import AuditEvent, record_audit
from models.contacts import CitizenContact
from models.deletions import CprDeletion
from models.integration import DigitalPostIntegration
from models.optout import CitizenOptOut
from models.org import DepartmentCount, Membership, Organization, Role, User
from models.policy import CitizenPolicy
from models.sharing import (
    Delivery,
    Recipient,
    RecipientCpr,
    RecipientImport,
    ScheduledSend,
    SendState,
    Share,
    ShareTally,
)
from models.survey import Answer, Question, Response, Survey
from models.test_letters import TestLetter

__all__ = [
    "db",
    "Answer",
    "AccessBlock",
    "AuditEvent",
    "AuditMemberBlock",
    "CitizenContact",
    "CitizenOptOut",
    "CitizenPolicy",
    "CprDeletion",
    "Delivery",
    "DepartmentCount",
    "DigitalPostIntegration",
    "Membership",
    "Organization",
    "Question",
    "Recipient",
    "RecipientCpr",
    "RecipientImport",
    "Response",
    "Role",
    "ScheduledSend",
    "SendState",
    "Share",
    "ShareTally",
    "Survey",
    "TestLetter",
    "User",
    "record_audit",
]
