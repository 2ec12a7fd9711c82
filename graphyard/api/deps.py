"""What routes depend on: the app's ``Services`` (built in the lifespan), request headers and
path ids."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path, Request

from graphyard.api.run_headers import configurable_headers
from graphyard.errors import Unprocessable
from graphyard.runs.backends import Services


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


Deps = Annotated[Services, Depends(_services)]
# The request headers langgraph.json's http.configurable_headers copies into a run's config.
RunHeaders = Annotated[dict[str, str], Depends(configurable_headers)]
# Path ids are UUIDs (documented as such; ``check_uuid`` gives the reference's 422 message).
ThreadId = Annotated[
    str, Path(description="The thread's UUID.", json_schema_extra={"format": "uuid"})
]
RunId = Annotated[str, Path(description="The run's UUID.", json_schema_extra={"format": "uuid"})]


def check_uuid(value: str, what: str) -> str:
    """Path ids must be UUIDs: 422 ``Invalid <what> ID: must be a UUID`` otherwise."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise Unprocessable(f"Invalid {what} ID: must be a UUID") from None
