"""Every RPC over HTTP/1.1 with JSON: the Connect protocol, in front of the gRPC server (O-5).

Each service serves, beside its gRPC port, an HTTP port on which ``POST /<package>.<Service>/<Method>``
with ``Content-Type: application/json`` (or ``application/proto``) calls the RPC and answers
its response message in the proto3 JSON mapping, and an error as Connect's error object:
``{"code": "invalid_argument", "message": ..., "details": [{"type": "google.rpc.ErrorInfo",
"value": <base64>, "debug": {...}}]}`` with the HTTP status Connect gives that code. Any
Connect client (connect-es, connect-go, ...) speaks it, and so does curl.

Why a gateway, not a Connect server library: connect-python serves its own generated
service interfaces, with its own context and errors, so the servicers would have to be
written twice. Here an HTTP call is decoded, then forwarded over a private gRPC channel
(a Unix socket of the same process) to the very server gRPC clients reach: the API key,
the role, the contract's limits, idempotency and the error table are the same code for
both, and a status becomes a Connect error by a mechanical translation. aiohttp serves
HTTP: maintained, asyncio-native, and it lets a body be read piece by piece.

Before any body is read, the key is checked as the interceptor checks it, and a body is
read only up to its RPC's limit (X-7): a refused or oversized call costs no memory.

Server-streaming RPCs (``EventService/StreamEvents``) use Connect's streaming framing
(``application/connect+json``: enveloped messages, then an end-of-stream message holding
the error, if any). Bidirectional ones (``MeterEventService/StreamMeterEvents``) need HTTP/2
both ways and are served over gRPC only: over HTTP they answer ``unimplemented``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import ssl
import struct
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import grpc
import structlog
from aiohttp import web
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2

from drawdown import reasons
from drawdown.errors import DomainError, InvalidArgument, Unimplemented
from drawdown.rpc import errors as rpc_errors
from drawdown.rpc.limits import MAX_MESSAGE_BYTES, OversizedRequest, method_limits
from drawdown.rpc.openapi import openapi_document

log = structlog.get_logger("drawdown.http")

# Why a key would be refused for a method: the interceptor's own check (or None).
Authorize = Callable[[str, tuple[tuple[str, str], ...]], Awaitable[grpc.Status | None]]

# Connect's HTTP status for each code (connectrpc.com/docs/protocol#error-codes).
HTTP_STATUS = {
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}
_CODES = {code.value[0]: code for code in grpc.StatusCode}

JSON, PROTO = "application/json", "application/proto"
STREAM_JSON, STREAM_PROTO = "application/connect+json", "application/connect+proto"
# A JSON body may take more bytes than the binary message it encodes (field names, int64 as
# strings, bytes as base64): it may be up to this many times the RPC's binary limit. The
# message it decodes to is held to that limit by the gRPC server, as any other.
JSON_EXPANSION = 4
_END_STREAM = 0x02
_COMPRESSED = 0x01


@dataclass(frozen=True)
class _Rpc:
    path: str
    descriptor: MethodDescriptor
    request: type[Message]
    response: type[Message]

    @property
    def bidirectional(self) -> bool:
        return self.descriptor.client_streaming

    @property
    def server_streaming(self) -> bool:
        return self.descriptor.server_streaming


def rpcs_of(service_names: Sequence[str]) -> dict[str, _Rpc]:
    """Every method of ``service_names`` by its path, ``/<package>.<Service>/<Method>``."""
    pool = descriptor_pool.Default()
    found = {}
    for name in service_names:
        for method in pool.FindServiceByName(name).methods:
            path = f"/{name}/{method.name}"
            found[path] = _Rpc(
                path,
                method,
                message_factory.GetMessageClass(method.input_type),
                message_factory.GetMessageClass(method.output_type),
            )
    return found


class _Refused(Exception):
    """A call ended before it reached the gRPC server, with the status to answer."""

    def __init__(self, status: grpc.Status | DomainError, http_status: int | None = None) -> None:
        super().__init__()
        self.status = rpc_errors.to_status(status) if isinstance(status, DomainError) else status
        self.http_status = http_status


class ConnectGateway:
    """The HTTP application of one service: its RPCs by the Connect protocol, its OpenAPI document."""

    def __init__(
        self,
        service: str,
        service_names: Sequence[str],
        channel: grpc.aio.Channel,
        authorize: Authorize,
    ) -> None:
        self._service = service
        self._rpcs = rpcs_of(service_names)
        self._channel = channel
        self._authorize = authorize
        self._openapi = json.dumps(openapi_document(service, service_names), indent=1).encode()

    def application(self) -> web.Application:
        app = web.Application(handler_args={"max_field_size": 16 * 1024})
        app.router.add_get("/openapi.json", self._openapi_json)
        app.router.add_route("*", "/{rpc:.*}", self._call)
        return app

    async def _openapi_json(self, request: web.Request) -> web.Response:
        return web.Response(body=self._openapi, content_type=JSON)

    async def _call(self, request: web.Request) -> web.StreamResponse:
        rpc = self._rpcs.get(request.path)
        if rpc is None:
            return _error_response(
                _Refused(Unimplemented(f"no RPC at {request.path[:200]}", reason=reasons.UNIMPLEMENTED), 404)
            )
        if request.method != "POST":
            refused = _Refused(
                InvalidArgument(f"{rpc.path} takes POST", reason=reasons.INVALID_REQUEST_ENCODING), 405
            )
            return _error_response(refused, headers={"Allow": "POST"})
        if rpc.bidirectional:
            return _error_response(
                _Refused(
                    Unimplemented(
                        f"{rpc.path} streams both ways and is served over gRPC (HTTP/2) only",
                        reason=reasons.UNIMPLEMENTED,
                    )
                )
            )
        content_type = request.content_type
        if rpc.server_streaming and content_type in (STREAM_JSON, STREAM_PROTO):
            return await self._server_stream(rpc, request, content_type)
        if not rpc.server_streaming and content_type in (JSON, PROTO):
            return await self._unary(rpc, request, content_type)
        wanted = f"{STREAM_JSON} or {STREAM_PROTO}" if rpc.server_streaming else f"{JSON} or {PROTO}"
        return _error_response(
            _Refused(
                InvalidArgument(
                    f"Content-Type {content_type[:100]!r} is not served here; send {wanted}",
                    reason=reasons.INVALID_REQUEST_ENCODING,
                ),
                415,
            )
        )

    async def _unary(self, rpc: _Rpc, request: web.Request, content_type: str) -> web.StreamResponse:
        try:
            metadata, timeout = await self._admitted(rpc, request)
            body = await _bounded_body(request, _body_limit(rpc, content_type))
            message = body if content_type == PROTO else _from_json(rpc.request, body)
            call = self._channel.unary_unary(rpc.path)
            reply = await self._forwarded(call(message, metadata=metadata, timeout=timeout))
        except _Refused as refused:
            return _error_response(refused)
        if content_type == PROTO:
            return web.Response(body=reply, content_type=PROTO)
        return web.Response(body=_to_json(rpc.response.FromString(reply)), content_type=JSON)

    async def _server_stream(self, rpc: _Rpc, request: web.Request, content_type: str) -> web.StreamResponse:
        # Connect streams answer 200 and carry any error in the end-of-stream message.
        response = web.StreamResponse(headers={"Content-Type": content_type})
        as_json = content_type == STREAM_JSON
        await response.prepare(request)
        end: dict[str, Any] = {}
        try:
            metadata, timeout = await self._admitted(rpc, request)
            body = await _bounded_body(request, _body_limit(rpc, content_type) + 5)
            data = _unenveloped(body)
            message = _from_json(rpc.request, data) if as_json else data
            call = self._channel.unary_stream(rpc.path)(message, metadata=metadata, timeout=timeout)
            try:
                async for reply in _replies(call):
                    payload = _to_json(rpc.response.FromString(reply)) if as_json else reply
                    await response.write(_envelope(0, payload))
            finally:
                call.cancel()
        except _Refused as refused:
            end = {"error": _connect_error(refused.status)}
        except ConnectionResetError:  # the client went away: nobody is left to tell
            return response
        with contextlib.suppress(ConnectionResetError):
            await response.write(_envelope(_END_STREAM, json.dumps(end).encode()))
            await response.write_eof()
        return response

    async def _admitted(
        self, rpc: _Rpc, request: web.Request
    ) -> tuple[tuple[tuple[str, str], ...], float | None]:
        """The call's metadata and deadline, once its key may call ``rpc`` (before its body is read)."""
        metadata = tuple(("authorization", value) for value in request.headers.getall("Authorization", ()))
        refusal = await self._authorize(rpc.path, metadata)
        if refusal is not None:
            raise _Refused(refusal)
        return metadata, _timeout(request.headers.get("Connect-Timeout-Ms"))

    async def _forwarded(self, call: Awaitable[bytes]) -> bytes:
        try:
            return await call
        except grpc.aio.AioRpcError as error:
            raise _Refused(_status_of(error)) from None


async def _replies(call: Any) -> AsyncIterator[bytes]:
    try:
        async for reply in call:
            yield reply
    except grpc.aio.AioRpcError as error:
        raise _Refused(_status_of(error)) from None


def _status_of(error: grpc.aio.AioRpcError) -> _Status:
    code = error.code()
    trailing = tuple(error.trailing_metadata() or ())
    return _Status(code, error.details() or "", trailing)


class _Status(NamedTuple):
    """A status read back from a call, shaped as ``grpc.Status``."""

    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]


def _timeout(header: str | None) -> float | None:
    if header is None:
        return None
    if not header.isdigit() or len(header) > 10:
        raise _Refused(
            InvalidArgument.for_field(
                "Connect-Timeout-Ms", "must be a whole number of milliseconds, at most 10 digits"
            )
        )
    return int(header) / 1000


def _body_limit(rpc: _Rpc, content_type: str) -> int:
    limit = method_limits(rpc.path).max_request_bytes
    if content_type in (JSON, STREAM_JSON):
        limit *= JSON_EXPANSION
    return min(limit, MAX_MESSAGE_BYTES)


async def _bounded_body(request: web.Request, limit: int) -> bytes:
    """The request's body, refused without being read past ``limit`` bytes (X-7)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise _Refused(OversizedRequest(declared, limit).refusal())
    chunks, size = [], 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > limit:
            raise _Refused(OversizedRequest(size, limit).refusal())
        chunks.append(chunk)
    return b"".join(chunks)


def _from_json(message_class: type[Message], body: bytes) -> bytes:
    """The binary request a JSON body encodes; malformed JSON is INVALID_ARGUMENT, never INTERNAL."""
    try:
        text = body.decode("utf-8")
        message = json_format.Parse(text or "{}", message_class(), ignore_unknown_fields=False)
        return message.SerializeToString()
    except (json_format.ParseError, ValueError, RecursionError, DecodeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        problem = reason[:200]
    raise _Refused(
        InvalidArgument(
            f"the body is not JSON of {message_class.DESCRIPTOR.full_name}: {problem}",
            reason=reasons.INVALID_REQUEST_ENCODING,
        )
    )


def _to_json(message: Message) -> bytes:
    # Fields at their default are written too, as grpcurl's -emit-defaults does: a reply
    # says `"duplicate": false` rather than leaving the key out.
    return json_format.MessageToJson(
        message, always_print_fields_with_no_presence=True, indent=None, ensure_ascii=False
    ).encode()


def _unenveloped(body: bytes) -> bytes:
    """The one message of a Connect streaming request body (a 5-byte prefix, then the message)."""
    if len(body) < 5:
        raise _Refused(_bad_envelope("shorter than its 5-byte prefix"))
    flags, length = struct.unpack(">BI", body[:5])
    if flags & _COMPRESSED:
        raise _Refused(_bad_envelope("compressed, and no compression is served"))
    if length != len(body) - 5:
        raise _Refused(_bad_envelope(f"its prefix says {length} bytes, and {len(body) - 5} follow"))
    return body[5:]


def _bad_envelope(why: str) -> InvalidArgument:
    return InvalidArgument(
        f"the streaming request envelope is {why}", reason=reasons.INVALID_REQUEST_ENCODING
    )


def _envelope(flags: int, payload: bytes) -> bytes:
    return struct.pack(">BI", flags, len(payload)) + payload


def _connect_error(status: grpc.Status) -> dict[str, Any]:
    """A gRPC status as Connect's error object, its details as type, base64 value and JSON."""
    error: dict[str, Any] = {"code": _code_name(status.code), "message": status.details}
    details = []
    for key, value in status.trailing_metadata or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            for packed in status_pb2.Status.FromString(value).details:
                detail = {
                    "type": packed.TypeName(),
                    "value": base64.b64encode(packed.value).decode().rstrip("="),
                }
                debug = _debug(packed)
                if debug is not None:
                    detail["debug"] = debug
                details.append(detail)
    if details:
        error["details"] = details
    return error


def _debug(packed: Any) -> dict[str, Any] | None:
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(packed.TypeName())
    except KeyError:
        return None
    message = message_factory.GetMessageClass(descriptor)()
    packed.Unpack(message)
    return json_format.MessageToDict(message)


def _code_name(code: grpc.StatusCode | int) -> str:
    code = _CODES.get(code, grpc.StatusCode.UNKNOWN) if isinstance(code, int) else code
    return code.name.lower()


def _error_response(refused: _Refused, headers: dict[str, str] | None = None) -> web.Response:
    code = refused.status.code
    code = _CODES.get(code, grpc.StatusCode.UNKNOWN) if isinstance(code, int) else code
    return web.Response(
        status=refused.http_status or HTTP_STATUS.get(code, 500),
        body=json.dumps(_connect_error(refused.status)).encode(),
        content_type=JSON,
        headers=headers,
    )


class HttpServer:
    """The HTTP port of one service, forwarding to its gRPC server through a Unix socket."""

    def __init__(self, runner: web.AppRunner, channel: grpc.aio.Channel, socket_dir: Path, port: int) -> None:
        self._runner = runner
        self._channel = channel
        self._socket_dir = socket_dir
        self.port = port

    async def stop(self) -> None:
        """Stop taking connections, give in-flight calls the shutdown grace period, then close."""
        await self._runner.shutdown()
        await self._runner.cleanup()
        await self._channel.close()
        shutil.rmtree(self._socket_dir, ignore_errors=True)


def loopback_address() -> tuple[Path, str]:
    """A private folder and the Unix socket address in it the gRPC server also listens on."""
    folder = Path(tempfile.mkdtemp(prefix="drawdown-grpc-"))
    os.chmod(folder, 0o700)
    return folder, f"unix:{folder / 'grpc.sock'}"


def listening_socket(host: str, port: int, *, share_port: bool) -> socket.socket:
    """A socket listening on ``host:port``: SO_REUSEPORT only when the port is shared on purpose (O-1)."""
    family, kind, protocol, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, protocol)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if share_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def start_http(
    gateway: ConnectGateway,
    channel: grpc.aio.Channel,
    socket_dir: Path,
    sock: socket.socket,
    *,
    ssl_context: ssl.SSLContext | None,
    grace: float,
) -> HttpServer:
    runner = web.AppRunner(
        gateway.application(), handle_signals=False, access_log=None, shutdown_timeout=grace
    )
    await runner.setup()
    site = web.SockSite(runner, sock, ssl_context=ssl_context)
    await site.start()
    return HttpServer(runner, channel, socket_dir, sock.getsockname()[1])


def http_ssl_context(cert: Path, key: Path, client_ca: Path | None) -> ssl.SSLContext:
    """The HTTPS side of the TLS settings the gRPC port uses (mTLS when a client CA is set)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context
