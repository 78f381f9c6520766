"""Typed outcomes of the gateway: permanent errors (retrying cannot help) and
transient ones (try again later). No message here ever contains a CPR."""


class DigitalPostError(Exception):
    code = "error"

    def __init__(self, detail: str = ""):
        self.detail = detail
        super().__init__(f"{self.code}: {detail}" if detail else self.code)


class PermanentError(DigitalPostError):
    """400, 401, 403, 409, 422: retrying cannot help."""


class TransientError(DigitalPostError):
    """429, 503, timeouts and dropped connections: try again later."""


class InvalidApiKey(PermanentError):
    code = "invalid_api_key"


class SenderNotAuthorized(PermanentError):
    code = "sender_not_authorized"


class RecipientExempt(PermanentError):
    code = "recipient_exempt"


class RecipientNotFound(PermanentError):
    code = "recipient_not_found"


class InvalidMessage(PermanentError):
    """Refused by the gateway (400), or by the builder before anything was sent."""

    code = "invalid_memo"

    def __init__(self, detail: str = "", field: str | None = None):
        self.field = field
        super().__init__(detail)


class DuplicateMessage(PermanentError):
    code = "duplicate_message_uuid"


class MessageNotFound(PermanentError):
    code = "not_found"


class UnexpectedResponse(PermanentError):
    code = "unexpected_response"


class GatewayUnavailable(TransientError):
    """503, a timeout or a dropped connection."""

    code = "unavailable"


class NoAnswer(GatewayUnavailable):
    """The request went out but no answer came in time: the gateway may have
    accepted it. Sending it again with the same messageUUID is safe."""

    code = "no_answer"


class RateLimited(TransientError):
    code = "rate_limited"

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
