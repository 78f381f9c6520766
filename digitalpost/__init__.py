"""Client for the Digital Post gateway API (version 1, MeMo 1.1 messages).

See docs/digital-post-gateway.md for the contract. Nothing here knows
about Flask or Postbud's database, so the sandbox and the jobs share it.
"""

from digitalpost.client import DigitalPostClient, MessageStatus, SendResult
from digitalpost.errors import (
    DigitalPostError,
    DuplicateMessage,
    ErrorCode,
    GatewayUnavailable,
    InvalidApiKey,
    InvalidMessage,
    MessageNotFound,
    NoAnswer,
    PermanentError,
    RateLimited,
    RecipientExempt,
    RecipientNotFound,
    SenderNotAuthorized,
    TransientError,
    UnexpectedResponse,
)
from digitalpost.identifiers import InvalidCPR, InvalidCVR, mask_cpr, normalize_cpr, normalize_cvr
from digitalpost.memo import Action, ActionCode, Message, build_memo, memo_uuid

__all__ = [
    "DigitalPostClient",
    "MessageStatus",
    "SendResult",
    "DigitalPostError",
    "PermanentError",
    "TransientError",
    "DuplicateMessage",
    "ErrorCode",
    "GatewayUnavailable",
    "InvalidApiKey",
    "InvalidMessage",
    "MessageNotFound",
    "NoAnswer",
    "RateLimited",
    "RecipientExempt",
    "RecipientNotFound",
    "SenderNotAuthorized",
    "UnexpectedResponse",
    "InvalidCPR",
    "InvalidCVR",
    "mask_cpr",
    "normalize_cpr",
    "normalize_cvr",
    "Action",
    "Message",
    "build_memo",
    "memo_uuid",
    "ActionCode",
]
