"""The OpenAPI 3.1 document of the JSON API, built per request from the app's
URL map and the :class:`~webapp.api.schema.Operation` each view carries.

Nothing here is filled at import time: a route exists in the document exactly
when it is registered, and its schemas are the pydantic models that validate
it. Path parameters come from the rule (an ``<int:…>`` is an integer up to
2^31-1); a rule's single id parameter is documented as ``{id}``."""
from __future__ import annotations

import copy
import functools
import re
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from werkzeug.routing import IntegerConverter, Rule

from webapp.api.schema import MAX_ID, ErrorBody, Operation

API_PREFIX = "/api/v1"
TITLE = "NRSC 自然资源综合监管指挥平台 API"
_ARG = re.compile(r"<(?:[^:<>]+:)?([A-Za-z_][A-Za-z0-9_]*)>")
_REF = "#/components/schemas/{model}"
_METHODS_ORDER = ("get", "post", "put", "patch", "delete")


def _error_content() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": ("model", ErrorBody, "serialization")}}}


def api_rules(app: Flask) -> list[Rule]:
    return sorted((r for r in app.url_map.iter_rules() if r.rule.startswith(API_PREFIX + "/")),
                  key=lambda r: r.rule)


def _path(rule: Rule) -> tuple[str, list[dict[str, Any]]]:
    names = list(_ARG.findall(rule.rule))
    rename = {names[0]: "id"} if len(names) == 1 else {}
    params = []
    for name in names:
        converter = rule._converters.get(name)  # noqa: SLF001 - werkzeug keeps no public accessor
        if isinstance(converter, IntegerConverter):
            schema = {"type": "integer", "minimum": 0, "maximum": MAX_ID}
        else:
            schema = {"type": "string"}
        params.append({"name": rename.get(name, name), "in": "path", "required": True, "schema": schema})
    path = _ARG.sub(lambda m: "{" + rename.get(m.group(1), m.group(1)) + "}", rule.rule)
    return path[len(API_PREFIX):], params


class _Schemas:
    """Collects the models an operation names and renders them once into
    ``components.schemas`` (pydantic resolves shared and nested models)."""

    def __init__(self) -> None:
        self.models: dict[tuple[type[BaseModel], str], None] = {}

    def ref(self, model: type[BaseModel], mode: str) -> dict[str, Any]:
        self.models[(model, mode)] = None
        return {"$ref": ("model", model, mode)}  # resolved in render()

    def render(self) -> tuple[dict[tuple[type[BaseModel], str], str], dict[str, Any]]:
        names, defs = _models_json_schema(tuple(self.models))
        names, defs = dict(names), copy.deepcopy(defs)
        # A model whose config sets a title is published under it (AlertOut
        # as Alert), so the component names clients know stay the same.
        renames = {}
        for (model, _mode), name in names.items():
            title = model.model_config.get("title")
            if title and title != name and title not in defs:
                renames[name] = title
        if renames:
            old_refs = {_REF.format(model=old): _REF.format(model=new) for old, new in renames.items()}

            def fix(node: Any) -> Any:
                if isinstance(node, dict):
                    return {k: (old_refs.get(v, v) if k == "$ref" and isinstance(v, str) else fix(v))
                            for k, v in node.items()}
                if isinstance(node, list):
                    return [fix(v) for v in node]
                return node
            defs = {renames.get(k, k): fix(v) for k, v in defs.items()}
            names = {key: renames.get(name, name) for key, name in names.items()}
        return names, defs


@functools.lru_cache(maxsize=8)
def _models_json_schema(models: tuple[tuple[type[BaseModel], str], ...]) -> tuple[dict, dict[str, Any]]:
    """JSON Schema of a set of models (pure in its arguments, so kept: the
    URL map is still read on every request, pydantic's rendering is not redone)."""
    keys, doc = models_json_schema(list(models), ref_template=_REF)
    return {key: ref["$ref"].rsplit("/", 1)[1] for key, ref in keys.items()}, doc.get("$defs", {})


def _multipart(schema: dict[str, Any], files: dict[str, str]) -> dict[str, Any]:
    """The JSON schema as form fields: structured values travel as JSON text,
    the files as binary parts."""
    out = copy.deepcopy(schema)
    out.pop("title", None)
    props = out.setdefault("properties", {})
    for name, prop in list(props.items()):
        if prop.get("type") in ("array", "object") or "$ref" in prop or "anyOf" in prop and any(
                alt.get("type") in ("array", "object") or "$ref" in alt for alt in prop["anyOf"]):
            props[name] = {"type": "string", "contentMediaType": "application/json",
                           "description": prop.get("description", "") + " (as JSON text)"}
    for name, text in files.items():
        props[name] = {"type": "array", "description": text,
                       "items": {"type": "string", "format": "binary"}}
    return out


def _operation(op: Operation, view: Any, params: list[dict[str, Any]], schemas: _Schemas,
               has_body_method: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"summary": op.summary, "operationId": view.__name__}
    if op.description:
        out["description"] = op.description
    if op.tags:
        out["tags"] = list(op.tags)
    auth = getattr(view, "api_auth", None)
    if auth is not None:
        out["security"] = [{"bearer": []}]
    query_params = []
    if op.query is not None:
        for name, info in op.query.model_fields.items():
            schema = op.query.model_json_schema()["properties"][name]
            query_params.append({"name": name, "in": "query", "required": info.is_required(), "schema": schema})
    if params or query_params:
        out["parameters"] = params + query_params
    responses: dict[str, Any] = {}
    for status, resp in sorted(op.responses.items()):
        entry: dict[str, Any] = {"description": resp.description}
        if resp.content is not None:
            entry["content"] = resp.content
        elif resp.model is not None:
            entry["content"] = {"application/json": {"schema": schemas.ref(resp.model, "serialization")}}
        responses[str(status)] = entry

    def error(status: int, text: str) -> None:
        responses.setdefault(str(status), {"description": text, "content": _error_content()})

    if op.body is not None and has_body_method:
        content = {"application/json": {"schema": ("inline", op.body, "validation")}}
        schemas.ref(op.body, "validation")
        if op.form or op.files:
            content["multipart/form-data"] = {"schema": ("multipart", op.body, op.files)}
        out["requestBody"] = {"required": op.body_required, "content": content}
        error(400, "the body does not match the schema (the message names the fields), "
                   "is not valid JSON, or nests deeper than 64 levels")
        error(415, "a body that is neither JSON nor a form")
        error(413, "the body is over NRSC_MAX_UPLOAD_MB" + (" or an image over NRSC_MAX_IMAGE_BYTES"
                                                           if op.files else ""))
    if op.query is not None:
        error(400, "a query parameter out of range")
    if auth is not None and has_body_method:
        error(400, "a cookie-session request without the X-CSRFToken header")
    if params:
        error(404, "no such resource, or not visible to this token")
    if auth is not None:
        error(401, "missing, wrong or revoked token")
        error(403, "not allowed for this token's kind, role or unit")
    out["responses"] = dict(sorted(responses.items()))
    return out


def _resolve(node: Any, names: dict, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, tuple):
            return {"$ref": _REF.format(model=names[(ref[1], ref[2])])}
        schema = node.get("schema")
        if isinstance(schema, tuple):
            kind, model, extra = schema
            name = names[(model, "validation")]
            if kind == "inline":
                node = {**node, "schema": copy.deepcopy(defs[name])}
            else:
                multipart_name = name + "Multipart"
                defs.setdefault(multipart_name, _multipart(defs[name], extra))
                node = {**node, "schema": {"$ref": _REF.format(model=multipart_name)}}
        return {k: _resolve(v, names, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(v, names, defs) for v in node]
    return node


def build(app: Flask) -> dict[str, Any]:
    """The whole document for ``app`` as it is wired now."""
    schemas = _Schemas()
    schemas.ref(ErrorBody, "serialization")
    paths: dict[str, dict[str, Any]] = {}
    for rule in api_rules(app):
        view = app.view_functions[rule.endpoint]
        op: Operation | None = getattr(view, "openapi", None)
        if op is None:
            continue
        path, params = _path(rule)
        for method in sorted(m.lower() for m in (rule.methods or ()) if m not in ("HEAD", "OPTIONS")):
            paths.setdefault(path, {})[method] = _operation(op, view, params, schemas,
                                                            method in ("post", "put", "patch"))
    names, defs = schemas.render()
    paths = _resolve(paths, names, defs)
    for path_item in paths.values():
        ordered = {m: path_item[m] for m in _METHODS_ORDER if m in path_item}
        path_item.clear()
        path_item.update(ordered)
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": "1"},
        "servers": [{"url": API_PREFIX}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": dict(sorted(defs.items())),
        },
    }
