"""Domain errors with a stable code and a message in Chinese and English.

Services raise `DomainError` subclasses; the API turns them into a structured 4xx body
`{"error": {"code", "message_zh", "message_en", "details"}}`, pages show `message_zh`.
"""


class DomainError(Exception):
    """A refusal the user can understand and act on."""

    status = 400
    code = "invalid"

    def __init__(self, message_zh: str, message_en: str = "", *, code: str | None = None, details: dict | None = None, status: int | None = None):
        super().__init__(message_en or message_zh)
        self.message_zh = message_zh
        self.message_en = message_en or message_zh
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details or {}

    def as_dict(self) -> dict:
        return {"code": self.code, "message_zh": self.message_zh, "message_en": self.message_en, "details": self.details}


class InvalidInput(DomainError):
    status = 422
    code = "invalid_input"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class IllegalTransition(DomainError):
    status = 409
    code = "illegal_transition"


class Conflict(DomainError):
    status = 409
    code = "conflict"
