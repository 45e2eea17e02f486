"""What an API operation answers: an HTTP status, a JSON body, extra headers. The Flask
glue in api/ only turns it into a response, so every operation is testable without HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lib.errors import ErrorCode
from lib.order_requests import ApiError


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def ok(cls, http_status: int = 200, /, **body: Any) -> Outcome:
        return cls(http_status, {"success": True, **body})

    @classmethod
    def error(
        cls,
        error: ApiError,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Outcome:
        """DESIGN §2's error body, plus `extra` fields (e.g. the order a 409 is about)."""
        return cls(error.status, {**error.body(), **(extra or {})}, headers or {})

    @classmethod
    def of(cls, code: ErrorCode, field: str | None = None, message: str | None = None) -> Outcome:
        return cls.error(ApiError.of(code, field, message))
