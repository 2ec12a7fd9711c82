"""The one error hierarchy. ``graphyard.api.errors`` maps it to HTTP ``{"detail": ...}``."""

from __future__ import annotations


class GraphyardError(Exception):
    """Base of every error graphyard raises on purpose."""

    status_code = 500

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ConfigError(GraphyardError):
    """``langgraph.json`` or a graph it names cannot be loaded."""


class GraphLoadFailed(GraphyardError):
    """A graph's factory failed, or made no graph (424, as the reference answers an invalid
    graph). ``retryable``: whether another attempt may load it (not a wrong signature or
    result)."""

    status_code = 424

    def __init__(self, detail: str, *, retryable: bool) -> None:
        super().__init__(detail)
        self.retryable = retryable


class DeployError(GraphyardError):
    """A ``graphyard deploy`` command Temporal refused, or one that cannot apply."""


class BadRequest(GraphyardError):
    status_code = 400


class Unauthorized(GraphyardError):
    """No credentials, or credentials the API does not accept."""

    status_code = 401


class Forbidden(GraphyardError):
    """An auth handler refused the request."""

    status_code = 403


class NotFound(GraphyardError):
    status_code = 404


class Conflict(GraphyardError):
    status_code = 409


class PayloadTooLarge(GraphyardError):
    """A request body beyond ``GRAPHYARD_MAX_BODY_BYTES``."""

    status_code = 413


class Unprocessable(GraphyardError):
    status_code = 422


class Unserializable(Unprocessable):
    """A value JSON cannot represent (nested too deeply for the serializer, circular)."""


class Unavailable(GraphyardError):
    status_code = 503
