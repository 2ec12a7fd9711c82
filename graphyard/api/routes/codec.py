"""``POST /codec/decode`` and ``/codec/encode``: the Temporal codec server protocol, so the
Temporal UI (``--ui-codec-endpoint``, ``TEMPORAL_CODEC_ENDPOINT``) and CLI
(``--codec-endpoint``) show graphyard's encrypted payloads decrypted.

Bodies are ``{"payloads": [{"metadata": {...}, "data": "<base64>"}]}`` (protobuf JSON of
``temporal.api.common.v1.Payloads``) both ways. Served only with ``GRAPHYARD_CODEC_ENDPOINT``
and codec keys set. Whoever can call it can read every payload of the namespace, whoever owns
it: callers must authenticate as for every other route, and with custom auth (which can isolate
users from each other) must also hold the permission ``graphyard:codec``. ``preflight`` stays
open: browsers send CORS preflights without credentials.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence

from fastapi import APIRouter, Request, Response
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from graphyard.api.auth import AuthDep
from graphyard.api.deps import Deps
from graphyard.api.routing import BodyRoute
from graphyard.codec import CodecError
from graphyard.config import Settings
from graphyard.errors import BadRequest, Forbidden, Unprocessable

router = APIRouter(prefix="/codec", tags=["codec"], route_class=BodyRoute)
preflight = APIRouter(prefix="/codec", include_in_schema=False, route_class=BodyRoute)

_ALLOWED_HEADERS = "authorization, content-type, x-namespace, x-api-key"
# What a custom-auth user needs to decode: the payloads of every user's runs.
PERMISSION = "graphyard:codec"


def _cors(settings: Settings, request: Request, response: Response) -> Response:
    origin = request.headers.get("origin")
    if origin and origin in settings.codec_cors_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = _ALLOWED_HEADERS
        # The UI's "include cross-origin credentials" sends the user's cookies.
        response.headers["Access-Control-Allow-Credentials"] = "true"
    response.headers["Vary"] = "Origin"
    return response


Transform = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]


async def _apply(services: Deps, auth: AuthDep, request: Request, transform: Transform) -> Response:
    custom = getattr(request.app.state.auth, "authenticator", None) is not None
    if custom and (auth.user is None or PERMISSION not in auth.user.permissions):
        raise Forbidden(f"the codec endpoint needs the permission {PERMISSION!r}")
    namespace = request.headers.get("x-namespace")
    if namespace and namespace != services.settings.temporal_namespace:
        raise Forbidden(f"namespace {namespace!r} is not served by this codec endpoint")
    try:
        payloads = json_format.Parse(await request.body(), Payloads(), ignore_unknown_fields=True)
    except json_format.ParseError:
        raise BadRequest('expected {"payloads": [{"metadata": {...}, "data": "..."}]}') from None
    try:
        done = await transform(payloads.payloads)
    except CodecError as exc:
        raise Unprocessable(str(exc)) from None
    body = json.dumps(json_format.MessageToDict(Payloads(payloads=done)))
    response = Response(body, media_type="application/json")
    return _cors(services.settings, request, response)


def _codec(services: Deps) -> PayloadCodec:
    codec = services.temporal.data_converter.payload_codec
    assert codec is not None  # create_app refuses codec_endpoint without keys
    return codec


@router.post("/decode")
async def decode(services: Deps, auth: AuthDep, request: Request) -> Response:
    """Decrypt payloads (the Temporal UI and CLI call this to show history)."""
    return await _apply(services, auth, request, _codec(services).decode)


@router.post("/encode")
async def encode(services: Deps, auth: AuthDep, request: Request) -> Response:
    """Encrypt payloads with the active key (the UI's inputs to signals and starts)."""
    return await _apply(services, auth, request, _codec(services).encode)


@preflight.options("/decode")
@preflight.options("/encode")
async def cors_preflight(services: Deps, request: Request) -> Response:
    """Answer a browser's CORS preflight for the codec endpoint (sent without credentials, so it
    needs none)."""
    return _cors(services.settings, request, Response(status_code=204))
