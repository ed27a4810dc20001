"""The sandbox's error answers: an API error code, its message and how it is sent."""

from __future__ import annotations

INT32_MAX = 2**31 - 1


class ApiError(Exception):
    """An ErrorResponse to send: ``code`` is the bare number (28), ``message`` the
    ``E0NN: ...`` text. ``http_status`` is what this sandbox sends with it. ``details``:
    the Body's ``ErrorDetail`` entries (``Field``, ``Message``, ``Value``, ``SellerSku``)."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        error_type: str = "Sender",
        http_status: int = 400,
        headers: dict[str, str] | None = None,
        details: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.error_type = error_type
        self.http_status = http_status
        self.headers = headers or {}
        self.details = details or []

    @property
    def verdict(self) -> str:
        """The code as the request log shows it: ``E028``."""
        return f"E{self.code:03d}"


def missing(name: str) -> ApiError:
    return ApiError(1, f"E001: Parameter {name} is mandatory")


def invalid_format(detail: str = "") -> ApiError:
    suffix = f" ({detail})" if detail else ""
    return ApiError(5, f"E005: Invalid Request Format{suffix}")


def internal_error() -> ApiError:
    return ApiError(6, "E006: Unexpected internal error", error_type="Platform", http_status=500)


def oms_error() -> ApiError:
    # Some deployments send error envelopes with HTTP 200: the client must read the envelope.
    return ApiError(21, "E021: OMS Api Error Occurred", error_type="Platform", http_status=200)


def too_many_requests(retry_after: int | None) -> ApiError:
    if retry_after is None:
        return ApiError(429, "E429: Too many requests", http_status=400)
    return ApiError(
        429,
        "E429: Too many requests",
        http_status=429,
        headers={"Retry-After": str(retry_after)},
    )


def quoted(value: str, limit: int = 100) -> str:
    """A client-supplied value echoed in a message, cut short so an error stays small."""
    return value if len(value) <= limit else value[:limit] + "..."
