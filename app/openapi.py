"""The published contract: openapi/openapi.json is generated from the app."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details. With `Accept-Language: zh-CN` (Chinese first) the "
    "title, detail and field messages are in Chinese (`Content-Language: zh-CN`); type, codes and "
    "field names stay the same",
    "type": "object",
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "detail_en": {
            "type": "string",
            "description": "The English detail, when the detail is given in Chinese",
        },
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "code": {"type": "string"},
                },
                "required": ["field", "message", "code"],
            },
        },
    },
    "required": ["type", "title", "status"],
}
_PROBLEM_CONTENT = {
    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
}
_COMMON = {
    "400": "The body is not valid JSON, or JSON nested too deeply",
    "401": "Missing, unknown or revoked API key",
    "403": "Not allowed for this key",
    "404": "No such resource",
    "409": "Conflicts with the current state",
    "413": "Request body too large",
    "414": "Request URI too long",
    "408": "The declared body did not arrive in time",
    "422": "Invalid request: `errors` names each field and why",
    "429": "Over this client's rate limit; retry after `Retry-After` seconds",
    "503": "The database is unavailable; retry after `Retry-After` seconds",
}

_RETRY_AFTER = {
    "description": "Seconds to wait before retrying",
    "schema": {"type": "integer", "minimum": 0},
}


def install_openapi(app: FastAPI) -> None:
    """Every error is problem+json: say so in the contract instead of FastAPI's default 422."""

    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        from fastapi.openapi.utils import get_openapi

        spec = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            license_info=app.license_info,
        )
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas["Problem"] = PROBLEM_SCHEMA
        _add_signature_scheme(spec)
        _add_links(spec)
        for path, operations in spec.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                codes = ["414", "422", "503"]
                if path.startswith("/v1/") or operation.get("security"):
                    codes += ["401", "403"]
                if "{" in path:
                    codes.append("404")
                if operation.get("requestBody"):
                    codes += ["400", "408", "409", "413"]
                if operation.get("security"):
                    codes.append("429")  # every keyed request passes its client's rate limit
                for status, description in _COMMON.items():
                    if status not in codes and status not in responses:
                        continue
                    existing = responses.get(status, {})
                    responses[status] = {
                        "description": existing.get("description") or description,
                        "content": _PROBLEM_CONTENT,
                    }
                for status, response in responses.items():
                    if status.startswith(("4", "5")):
                        response["content"] = _PROBLEM_CONTENT
                for status in ("429", "503"):
                    if status in responses:
                        responses[status]["headers"] = {"Retry-After": _RETRY_AFTER}
        app.openapi_schema = spec
        return spec

    app.openapi = custom_openapi


def _add_signature_scheme(spec: dict[str, Any]) -> None:
    """Signed requests (app/auth/signing.py) as a third way to authenticate every operation that
    takes a key. OpenAPI has no HMAC scheme: it is declared on its signature header, and the
    description (the module's own) says how the four headers are made."""
    from app.auth import signing

    schemes = spec["components"].setdefault("securitySchemes", {})
    schemes["HCPSignature"] = {
        "type": "apiKey",
        "in": "header",
        "name": signing.SIGNATURE_HEADER,
        "description": signing.__doc__.split("\n\n", 1)[1].rsplit("\n(", 1)[0].strip(),
    }
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            security = operation.get("security")
            if security and any("HTTPBearer" in requirement for requirement in security):
                security.append({"HCPSignature": []})


# (operation that creates, its status, operation on the created thing, its path parameter):
# OpenAPI links, so that clients and stateful tests follow an id from one answer to the next.
_SUBSCRIPTION = "/v1/webhooks/{subscription_id}"
_LINKS = (
    (("post", "/v1/keys"), "201", ("delete", "/v1/keys/{key_id}"), "key_id"),
    (("post", "/v1/webhooks"), "201", ("get", _SUBSCRIPTION), "subscription_id"),
    (("post", "/v1/webhooks"), "201", ("patch", _SUBSCRIPTION), "subscription_id"),
)


def _add_links(spec: dict[str, Any]) -> None:
    paths = spec.get("paths", {})
    for (method, path), status, (target_method, target_path), parameter in _LINKS:
        source = paths.get(path, {}).get(method)
        target = paths.get(target_path, {}).get(target_method)
        if source is None or target is None or status not in source.get("responses", {}):
            continue
        links = source["responses"][status].setdefault("links", {})
        links[target["operationId"]] = {
            "operationId": target["operationId"],
            "parameters": {parameter: "$response.body#/id"},
        }


def spec_json(app: FastAPI) -> str:
    """The app's spec as published: openapi/openapi.json (`haochaping openapi`)."""
    return json.dumps(app.openapi(), ensure_ascii=False, indent=2) + "\n"
