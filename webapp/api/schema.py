"""One schema per API payload: pydantic models that validate the request and,
through :mod:`webapp.api.openapi`, document it.

:func:`operation` attaches an :class:`Operation` to a view function (as the
``openapi`` attribute; ``functools.wraps`` carries it through the other
decorators) and, when the operation has a body or query model, parses and
validates the request before the view runs. Nothing is registered anywhere
at import time: the OpenAPI document is built from the app's URL map.

Limits stated in a model are maxima the server refuses past; required strings
are non-empty after stripping."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import wraps
from typing import Annotated, Any, Callable

import annotated_types
from flask import g, request
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter

from webapp.platform.errors import api_error

# Ids (and the other integers we store) are INTEGER columns: 64-bit on SQLite
# but 32-bit on PostgreSQL, where a larger value in a query is an "integer out
# of range" error (a 500). The smaller bound holds on both.
MAX_ID = 2**31 - 1
# Far deeper than any real payload (the deepest, intake boxes, is 3 levels),
# far shallower than Python's recursion limit.
MAX_JSON_DEPTH = 64
MAX_TEXT = 2000


def _at_most(n: int) -> str:
    """A regex matching the decimal numbers 0..n (no sign)."""
    digits = str(n)
    alternatives = [rf"\d{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for i, ch in enumerate(digits):
        if ch != "0":
            rest = len(digits) - i - 1
            alternatives.append(digits[:i] + f"[0-{int(ch) - 1}]" + (rf"\d{{{rest}}}" if rest else ""))
    alternatives.append(digits)
    return "(?:" + "|".join(alternatives) + ")"


class BoundedIntConverter(IntegerConverter):
    """``<int:…>`` that does not match past MAX_ID, so a larger id is a 404
    instead of an overflow in the database driver. The
    bound is in the regex, not a ``max`` check: werkzeug answers a failed check
    with 405 when the same path has a rule for another method."""

    regex = _at_most(MAX_ID)

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ID, signed=False):  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


# -- field types -----------------------------------------------------------------
def _not_bool(value: Any) -> Any:
    # pydantic's lax mode reads true as 1; a client sending a boolean for a
    # number has made a mistake worth a 400.
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    return value


def blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def number(ge: float | None = None, le: float | None = None) -> Any:
    """A finite float, optionally bounded. (Constraints go before the
    validator so pydantic still writes them as minimum/maximum.)"""
    return Annotated[float, annotated_types.Interval(ge=ge, le=le), BeforeValidator(_not_bool)]


def integer(ge: int | None = None, le: int | None = None) -> Any:
    return Annotated[int, annotated_types.Interval(ge=ge, le=le), BeforeValidator(_not_bool)]


Id = integer(1, MAX_ID)
Int = integer(-MAX_ID, MAX_ID)
Number = number()
# Required strings must hold more than blanks; the pattern says so in the
# document (the server strips, then checks).
NON_BLANK = r"\S"


def text(max_length: int = MAX_TEXT, *, required: bool = False) -> Any:
    """A stripped string of at most ``max_length`` characters; ``required``:
    with more than blanks."""
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=1 if required else None,
                                            max_length=max_length, pattern=NON_BLANK if required else None)]


RequiredText = text(required=True)
Text = text()
OptionalId = Annotated[Id | None, BeforeValidator(blank_is_none)]
Version = Annotated[Annotated[integer(0, MAX_ID) | None, BeforeValidator(blank_is_none)], Field(description="the version the client saw; a mismatch is 409 "
                                                  "with what changed")]


class Body(BaseModel):
    """Base of request bodies. Unknown fields are ignored (older and newer
    clients keep working); strings are stripped; numbers must be finite."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, allow_inf_nan=False,
                              validate_default=False)


class Reply(BaseModel):
    """Base of response bodies (documentation and the tests' check of what
    the serialisers return)."""

    model_config = ConfigDict(extra="forbid")


class ErrorBody(Reply):
    model_config = ConfigDict(extra="allow", title="Error",
                              json_schema_extra={"description": "every error: a code and a readable message"})
    error: str = Field(description="machine-readable code, e.g. invalid, not_found, stale, illegal_transition")
    message: str


# -- the operation ---------------------------------------------------------------
@dataclass
class Response:
    description: str
    model: type[BaseModel] | None = None
    # media type -> schema, for what is not JSON (the PDF)
    content: dict[str, Any] | None = None


@dataclass
class Operation:
    summary: str
    description: str | None = None
    body: type[BaseModel] | None = None
    body_required: bool = True
    # Multipart (or url-encoded) bodies: the body model's fields as form fields
    # plus these file fields (name -> description).
    form: bool = False
    files: dict[str, str] = field(default_factory=dict)
    query: type[BaseModel] | None = None
    responses: dict[int, Response] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    # The error code of a body that does not match the model.
    error_code: str = "invalid"
    # False: the view validates itself with the same model (intake shares
    # its validation with MQTT); the model still documents the body.
    validate: bool = True


class BodyError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def operation(summary: str, *, description: str | None = None, body: type[BaseModel] | None = None,
              body_required: bool | None = None, form: bool = False, files: dict[str, str] | None = None,
              query: type[BaseModel] | None = None,
              responses: dict[int, str | tuple[str, type[BaseModel] | None] | Response] | None = None,
              tags: tuple[str, ...] = (), error_code: str = "invalid", validate: bool = True) -> Callable:
    """Document a JSON API view and validate its input.

    ``responses`` maps status to a description (an error answered with
    ``{error, message}``), a ``(description, model)`` pair, or a
    :class:`Response`. The view receives the validated body as ``body=`` and
    the query as ``query=``; uploaded files are in ``g.api_files``."""
    resolved: dict[int, Response] = {}
    for status, spec in (responses or {}).items():
        if isinstance(spec, Response):
            resolved[status] = spec
        elif isinstance(spec, tuple):
            resolved[status] = Response(spec[0], spec[1])
        else:
            resolved[status] = Response(spec, ErrorBody if status >= 400 else None)
    if body_required is None:
        body_required = body is not None and any(f.is_required() for f in body.model_fields.values())
    op = Operation(summary=summary, description=description, body=body, body_required=body_required,
                   form=form, files=dict(files or {}), query=query, responses=resolved, tags=tags,
                   error_code=error_code, validate=validate)

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            try:
                if op.validate and op.query is not None:
                    query = request.args.to_dict()
                    if has_nul(query):
                        raise BodyError(400, "invalid_text", NUL_REFUSED)
                    kwargs["query"] = op.query.model_validate(query)
                if op.validate and op.body is not None:
                    data, g.api_files = read_body(form=op.form, files=tuple(op.files))
                    kwargs["body"] = op.body.model_validate(data)
            except BodyError as exc:
                return api_error(exc.status, exc.code, exc.message)
            except ValidationError as exc:
                return api_error(400, op.error_code, describe(exc))
            return view(*args, **kwargs)
        wrapped.openapi = op
        return wrapped
    return decorator


def describe(exc: ValidationError, limit: int = 5) -> str:
    """A short message naming each bad field; never echoes the input."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    more = len(exc.errors()) - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


# -- reading the request -----------------------------------------------------------
def json_depth_ok(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``value`` nests at most ``limit`` containers deep (iterative,
    so the check itself cannot hit the recursion limit)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return True


def has_nul(value: Any) -> bool:
    """Whether a NUL character sits in any string (key or value) of ``value``:
    PostgreSQL's text columns cannot hold one, so storing or even looking it
    up is a driver error (a 500), not a refusal."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


NUL_REFUSED = "text may not contain the NUL character (\\u0000)"


def parse_json(raw: bytes, *, invalid_code: str = "invalid_json") -> Any:
    """Decode a JSON body; too deep, non-finite constants or broken text are a
    :class:`BodyError` (never a RecursionError from the decoder)."""
    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")
    try:
        value = json.loads(raw, parse_constant=no_constants)
    except RecursionError:
        raise BodyError(400, "too_deep", f"the JSON nests deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BodyError(400, invalid_code, f"the body is not valid JSON ({exc})") from None
    if not json_depth_ok(value):
        raise BodyError(400, "too_deep", f"the JSON nests deeper than {MAX_JSON_DEPTH} levels")
    if has_nul(value):
        raise BodyError(400, "invalid_text", NUL_REFUSED)
    return value


def read_form(files: tuple[str, ...] = ()) -> tuple[dict[str, Any], list[Any]]:
    """Form fields (each at most once; blanks left out, as browsers send
    empty inputs) and the uploads in ``files``."""
    try:
        form, uploads = request.form, request.files
    except RequestEntityTooLarge:
        raise
    except (BadRequest, ValueError) as exc:
        raise BodyError(400, "invalid_multipart", f"the multipart body cannot be read ({exc})") from None
    data: dict[str, Any] = {}
    for key in form:
        if not key:
            raise BodyError(400, "invalid_multipart", "every multipart part needs a name")
        values = form.getlist(key)
        if len(values) > 1:
            raise BodyError(400, "invalid_field", f"{key} is given more than once")
        if has_nul(key) or has_nul(values[0]):
            raise BodyError(400, "invalid_text", NUL_REFUSED)
        if values[0].strip():
            data[key] = values[0]
    found = []
    for key in uploads:
        if not key:
            raise BodyError(400, "invalid_multipart", "every multipart part needs a name")
        if key not in files:
            allowed = " or ".join(repr(f) for f in files) or "none"
            raise BodyError(400, "unknown_field", f"file field {key!r}: file fields here: {allowed}")
        found.extend(uploads.getlist(key))
    return data, found


def read_body(*, form: bool = False, files: tuple[str, ...] = ()) -> tuple[dict[str, Any], list[Any]]:
    """The request body as a dict plus uploaded files. JSON is the documented
    body; form-encoded bodies are read too (the pages' htmx calls and older
    clients send them), with files only where the operation names them."""
    if request.content_length == 0 or (request.content_length is None and not request.mimetype):
        return {}, []
    if request.mimetype == "application/json" or request.mimetype.endswith("+json"):
        raw = request.get_data(cache=True)
        if not raw.strip():
            return {}, []
        value = parse_json(raw)
        if not isinstance(value, dict):
            raise BodyError(400, "invalid_body", "the JSON body must be an object")
        return value, []
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return read_form(files)
    raise BodyError(415, "unsupported_media_type",
                    "send application/json" + (" or multipart/form-data" if form else ""))
