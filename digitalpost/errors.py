"""Typed outcomes of the gateway: permanent errors (retrying cannot help) and
transient ones (try again later). No message here ever contains a CPR."""

from enum import StrEnum


class ErrorCode(StrEnum):
    """The gateway's error codes (docs/digital-post-gateway.md), and the
    client's own for answers the contract does not name."""

    INVALID_API_KEY = "invalid_api_key"
    CERTIFICATE_REFUSED = "certificate_refused"
    SENDER_NOT_AUTHORIZED = "sender_not_authorized"
    RECIPIENT_EXEMPT = "recipient_exempt"
    RECIPIENT_NOT_FOUND = "recipient_not_found"
    INVALID_MEMO = "invalid_memo"
    DUPLICATE_MESSAGE_UUID = "duplicate_message_uuid"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    NO_ANSWER = "no_answer"
    UNEXPECTED_RESPONSE = "unexpected_response"
    ERROR = "error"


class DigitalPostError(Exception):
    code = ErrorCode.ERROR

    def __init__(self, detail: str = ""):
        self.detail = detail
        super().__init__(f"{self.code}: {detail}" if detail else self.code)


class PermanentError(DigitalPostError):
    """400, 401, 403, 409, 422: retrying cannot help."""


class TransientError(DigitalPostError):
    """429, 503, timeouts and dropped connections: try again later."""


class InvalidApiKey(PermanentError):
    code = ErrorCode.INVALID_API_KEY


class CertificateRefused(PermanentError):
    """Serviceplatformen refused the certificate or its tokens (401), even
    after a fresh token: like a refused API key, it stops the round."""

    code = ErrorCode.CERTIFICATE_REFUSED


class SenderNotAuthorized(PermanentError):
    code = ErrorCode.SENDER_NOT_AUTHORIZED


class RecipientExempt(PermanentError):
    code = ErrorCode.RECIPIENT_EXEMPT


class RecipientNotFound(PermanentError):
    code = ErrorCode.RECIPIENT_NOT_FOUND


class InvalidMessage(PermanentError):
    """Refused by the gateway (400), or by the builder before anything was sent."""

    code = ErrorCode.INVALID_MEMO

    def __init__(self, detail: str = "", field: str | None = None):
        self.field = field
        super().__init__(detail)


class DuplicateMessage(PermanentError):
    code = ErrorCode.DUPLICATE_MESSAGE_UUID


class MessageNotFound(PermanentError):
    code = ErrorCode.NOT_FOUND


class UnexpectedResponse(PermanentError):
    code = ErrorCode.UNEXPECTED_RESPONSE


class GatewayUnavailable(TransientError):
    """503, a timeout or a dropped connection."""

    code = ErrorCode.UNAVAILABLE


class NoAnswer(GatewayUnavailable):
    """The request went out but no answer came in time: the gateway may have
    accepted it. Sending it again with the same messageUUID is safe."""

    code = ErrorCode.NO_ANSWER


class RateLimited(TransientError):
    code = ErrorCode.RATE_LIMITED

    def __init__(self, retry_after: float, detail: str = ""):
        self.retry_after = retry_after
        super().__init__(detail or f"retry after {retry_after:g} s")


BY_CODE = {
    cls.code: cls
    for cls in (
        InvalidApiKey,
        SenderNotAuthorized,
        RecipientExempt,
        RecipientNotFound,
        InvalidMessage,
        DuplicateMessage,
    )
}
