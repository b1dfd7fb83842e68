"""The OpenAPI 3.1 document of a service's HTTP/JSON API, generated from the contracts (O-5).

It is built from the same descriptors the servers run on (the generated stubs, which CI
holds equal to ``protos/``), so the document, the JSON the gateway accepts and the gRPC
API cannot disagree; a generator binary (protoc-gen-openapi, gnostic) would add a Go or
npm build step for what a walk over the descriptors gives. Each RPC is a ``POST
/<package>.<Service>/<Method>`` (the Connect protocol); messages are schemas in the proto3
JSON mapping: lowerCamelCase names (the proto names are accepted too), 64-bit integers
as strings, enums by name, Timestamps as RFC 3339. String limits of the contracts (X-5)
are the schemas' ``maxLength``.
Each HTTP port serves its service's at ``GET /openapi.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf import descriptor_pool
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor, MethodDescriptor

from drawdown.rpc.limits import DEFAULT_MAX_LENGTH
from drawdown.type.v1 import access_pb2, limits_pb2

_SCALARS: dict[int, dict[str, Any]] = {
    FieldDescriptor.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldDescriptor.TYPE_INT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FieldDescriptor.TYPE_SINT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    FieldDescriptor.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "uint32", "minimum": 0},
    FieldDescriptor.TYPE_FIXED32: {"type": "integer", "format": "uint32", "minimum": 0},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte", "contentEncoding": "base64"},
}
# Well-known types have a JSON form of their own (protobuf.dev/programming-guides/json).
_WELL_KNOWN: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$"},
    "google.protobuf.FieldMask": {"type": "string", "description": "comma-separated lowerCamelCase paths"},
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
    },
    "google.protobuf.StringValue": {"type": ["string", "null"]},
    "google.protobuf.BoolValue": {"type": ["boolean", "null"]},
    "google.protobuf.Int32Value": {"type": ["integer", "null"]},
    "google.protobuf.UInt32Value": {"type": ["integer", "null"]},
    "google.protobuf.Int64Value": {"type": ["string", "null"]},
    "google.protobuf.UInt64Value": {"type": ["string", "null"]},
    "google.protobuf.DoubleValue": {"type": ["number", "null"]},
    "google.protobuf.FloatValue": {"type": ["number", "null"]},
    "google.protobuf.BytesValue": {"type": ["string", "null"], "format": "byte"},
}

CONNECT_ERROR = {
    "type": "object",
    "description": "A Connect error: a code, a message, and the google.rpc details (ErrorInfo, BadRequest).",
    "properties": {
        "code": {
            "type": "string",
            "enum": [
                "canceled",
                "unknown",
                "invalid_argument",
                "deadline_exceeded",
                "not_found",
                "already_exists",
                "permission_denied",
                "resource_exhausted",
                "failed_precondition",
                "aborted",
                "out_of_range",
                "unimplemented",
                "internal",
                "unavailable",
                "data_loss",
                "unauthenticated",
            ],
        },
        "message": {"type": "string"},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "examples": ["google.rpc.ErrorInfo"]},
                    "value": {"type": "string", "description": "the detail message, base64 without padding"},
                    "debug": {"type": "object", "description": "the detail message as JSON"},
                },
                "required": ["type", "value"],
            },
        },
    },
    "required": ["code"],
}


def schema_name(descriptor: Descriptor | EnumDescriptor) -> str:
    return descriptor.full_name


class _Schemas:
    def __init__(self) -> None:
        self.components: dict[str, dict[str, Any]] = {}

    def ref(self, descriptor: Descriptor | EnumDescriptor) -> dict[str, Any]:
        if isinstance(descriptor, Descriptor) and descriptor.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[descriptor.full_name])
        name = schema_name(descriptor)
        if name not in self.components:
            self.components[name] = {}  # placeholder: recursive messages end here
            self.components[name] = (
                self._enum(descriptor)
                if isinstance(descriptor, EnumDescriptor)
                else self._message(descriptor)
            )
        return {"$ref": f"#/components/schemas/{name}"}

    def _enum(self, descriptor: EnumDescriptor) -> dict[str, Any]:
        return {"type": "string", "enum": [value.name for value in descriptor.values]}

    def _message(self, descriptor: Descriptor) -> dict[str, Any]:
        properties = {field.json_name: self._field(field) for field in descriptor.fields}
        schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
        oneofs = [o for o in descriptor.oneofs if not (len(o.fields) == 1 and o.fields[0].has_presence)]
        if oneofs:
            schema["description"] = "; ".join(
                f"at most one of {', '.join(f.json_name for f in o.fields)}" for o in oneofs
            )
        return schema

    def _field(self, field: FieldDescriptor) -> dict[str, Any]:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value = field.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self._single(value)}
        single = self._single(field)
        return {"type": "array", "items": single} if field.is_repeated else single

    def _single(self, field: FieldDescriptor) -> dict[str, Any]:
        if field.message_type is not None:
            return self.ref(field.message_type)
        if field.enum_type is not None:
            return self.ref(field.enum_type)
        if field.type == FieldDescriptor.TYPE_STRING:
            limit = field.GetOptions().Extensions[limits_pb2.string_limit]
            return {"type": "string", "maxLength": limit.max_length or DEFAULT_MAX_LENGTH}
        return dict(_SCALARS[field.type])


def _operation(method: MethodDescriptor, schemas: _Schemas) -> dict[str, Any]:
    access = method.GetOptions().Extensions[access_pb2.access]
    permissions = [access_pb2.Permission.Name(p) for p in (access.permission, *access.alternatives) if p]
    request, response = schemas.ref(method.input_type), schemas.ref(method.output_type)
    if method.client_streaming:
        return {
            "operationId": f"{method.containing_service.name}_{method.name}",
            "tags": [method.containing_service.full_name],
            "summary": f"{method.name}: streams both ways, served over gRPC (HTTP/2) only",
            "x-streaming": "bidirectional",
            "responses": {"501": _error_response("unimplemented over HTTP")},
        }
    content_type = "application/connect+json" if method.server_streaming else "application/json"
    operation: dict[str, Any] = {
        "operationId": f"{method.containing_service.name}_{method.name}",
        "tags": [method.containing_service.full_name],
        "summary": method.full_name,
        "requestBody": {"required": True, "content": {content_type: {"schema": request}}},
        "responses": {
            "200": {
                "description": "the response message"
                + (
                    " stream (Connect enveloped messages, then an end-of-stream message)"
                    if method.server_streaming
                    else ""
                ),
                "content": {content_type: {"schema": response}},
            },
            "default": _error_response("a Connect error; its HTTP status follows its code"),
        },
    }
    if method.server_streaming:
        operation["x-streaming"] = "server"
    if permissions:
        operation["description"] = "API key roles allowed by permission " + " or ".join(permissions) + "."
    else:
        operation["security"] = []
    return operation


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/connect.Error"}}},
    }


def openapi_document(service: str, service_names: Sequence[str]) -> dict[str, Any]:
    """The OpenAPI document of ``service_names`` (the services one server serves)."""
    pool = descriptor_pool.Default()
    schemas = _Schemas()
    paths: dict[str, Any] = {}
    for name in service_names:
        for method in pool.FindServiceByName(name).methods:
            paths[f"/{name}/{method.name}"] = {"post": _operation(method, schemas)}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"Drawdown {service} API (HTTP/JSON, Connect protocol)",
            "version": "v1",
            "description": "Every RPC of the gRPC API as POST /<package>.<Service>/<Method> with a JSON "
            "body. Send the API key as 'Authorization: Bearer <key>'.",
        },
        "paths": paths,
        "components": {
            "schemas": {**dict(sorted(schemas.components.items())), "connect.Error": CONNECT_ERROR},
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"apiKey": []}],
    }
