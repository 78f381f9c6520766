"""The data model. Import models from here: `from models import db, User`."""
from extensions import db
from models.audit import AuditEvent, record_audit
from models.integration import DigitalPostIntegration
from models.org import Membership, Organization, Role, User
from models.sharing import ScheduledSend, SendState, Share
from models.survey import Survey
from models.access import AuditEventMember, DigitalPostAccess  # noqa: E402  (after sharing)

__all__ = [
    "db",
    "AuditEvent",
    "AuditEventMember",
    "DigitalPostAccess",
    "DigitalPostIntegration",
    "Membership",
    "Organization",
    "Role",
    "ScheduledSend",
    "SendState",
    "Share",
    "Survey",
    "User",
    "record_audit",
]
