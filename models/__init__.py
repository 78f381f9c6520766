"""The data model. Import models from here: `from models import db, User`."""
from extensions import db
from models.audit import AuditEvent, record_audit
from models.integration import DigitalPostIntegration
from models.org import Membership, Organization, Role, User
from models.survey import Survey

__all__ = [
    "db",
    "AuditEvent",
    "record_audit",
    "Membership",
    "Organization",
    "Role",
    "User",
    "Survey",
    "DigitalPostIntegration",
]
