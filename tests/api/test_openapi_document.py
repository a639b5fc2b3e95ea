"""The OpenAPI document: valid 3.1, built from the URL map (every /api/v1 route
exactly once), each request example valid against both the model that
validates the request and the schema the document shows, and real answers
matching the documented response schemas."""
from __future__ import annotations

import copy
import json

import jsonschema
import pytest
from flask import Blueprint, Flask
from openapi_spec_validator import validate as validate_spec

from tests.api.conftest import LIUQUAN
from webapp.api import openapi
from webapp.api.schema import Body, RequiredText, operation


@pytest.fixture
def doc(app):
    return app.test_client().get("/api/v1/openapi.json").get_json()


def _operations(doc):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield path, method, op


def test_document_is_valid_openapi_31(doc):
    assert doc["openapi"] == "3.1.0"
    validate_spec(doc)
    # JSON Schema keywords only: a constraint pydantic could not translate
    # (it writes "ge"/"le" then) would be enforced but not documented.
    text = json.dumps(doc)
    for keyword in ("ge", "le", "gt", "lt", "min_length", "max_length"):
        assert f'"{keyword}":' not in text, keyword


def test_every_api_route_is_documented_exactly_once(app, doc):
    routes = []
    for rule in openapi.api_rules(app):
        path, _params = openapi._path(rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.append((path, method.lower()))
    documented = [(path, method) for path, method, _op in _operations(doc)]
    assert len(routes) == len(set(routes)), "two rules answer the same path and method"
    assert sorted(routes) == sorted(documented)
    # The areas' routes, each on its own path (DESIGN.md §8).
    assert {"/alerts", "/alerts/{id}", "/alerts/{id}/review", "/alerts/{id}/dispatch", "/orders/{id}",
            "/orders/{id}/accept", "/orders/{id}/spot-check", "/orders/{id}/pdf", "/openapi.json"} <= set(doc["paths"])


def test_alert_routes_are_one_blueprint(app):
    blueprints = {rule.endpoint.split(".")[0] for rule in app.url_map.iter_rules()
                  if rule.rule.startswith("/api/v1/alerts")}
    assert blueprints == {"alerts_api"}
    assert app.url_map.bind("x").match("/files/3")[0] == "files.evidence_file"


def test_every_operation_documents_its_statuses(doc):
    for path, method, op in _operations(doc):
        codes = set(op["responses"])
        assert any(c.startswith("2") for c in codes), (path, method)
        if "security" in op:
            assert {"401", "403"} <= codes, (path, method)
        if "{" in path:
            assert "404" in codes, (path, method)
        if "requestBody" in op:
            assert {"400", "415"} <= codes, (path, method)
        for code, response in op["responses"].items():
            if code.startswith("4"):
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"}, (path, method, code)
            elif code.startswith("2") and path not in ("/openapi.json",):
                assert "content" in response, (path, method, code)


def test_the_document_comes_from_the_url_map_not_from_imports(app):
    """A bare app holds only the routes registered on it, and building twice
    (after everything is imported) gives the same document."""
    class Ping(Body):
        model_config = {"json_schema_extra": {"examples": [{"word": "hi"}]}}
        word: RequiredText

    bp = Blueprint("probe", __name__)

    @bp.route("/api/v1/ping/<int:thing_id>", methods=["POST"])
    @operation("Ping", body=Ping, responses={200: "pong"})
    def ping(thing_id: int, body: Ping):
        return {"word": body.word}

    bare = Flask("probe")
    bare.register_blueprint(bp)
    small = openapi.build(bare)
    assert list(small["paths"]) == ["/ping/{id}"]
    assert small["paths"]["/ping/{id}"]["post"]["requestBody"]["content"]["application/json"]["schema"][
        "required"] == ["word"]
    validate_spec(small)
    resp = bare.test_client().post("/api/v1/ping/1", json={"word": "  "})
    assert resp.status_code == 400 and resp.get_json()["error"] == "invalid"

    first = openapi.build(app)
    import webapp.alerts.api  # noqa: F401
    import webapp.orders.api  # noqa: F401
    import webapp.printing.views  # noqa: F401
    assert openapi.build(app) == first


def _schema(doc, schema):
    """A JSON Schema validator for a schema taken from the document, with the
    document's components in reach of its $refs."""
    root = {**copy.deepcopy(schema), "components": doc["components"]}
    return jsonschema.Draft202012Validator(root, format_checker=jsonschema.FormatChecker())


def test_each_request_example_validates(app, doc):
    """The schemas round-trip: every documented request carries an example,
    which the model that validates the request accepts, and so does the
    schema shown in the document, as JSON and (where offered) as a form."""
    seen = 0
    for rule in openapi.api_rules(app):
        view = app.view_functions[rule.endpoint]
        op = view.openapi
        if op.body is None:
            continue
        path, _params = openapi._path(rule)
        content = doc["paths"][path]["post"]["requestBody"]["content"]
        shown = content["application/json"]["schema"]
        examples = shown.get("examples") or []
        assert examples, f"{path}: the request model has no example"
        for example in examples:
            op.body.model_validate(example)
            _schema(doc, shown).validate(example)
            if "multipart/form-data" in content:
                as_form = {k: (str(v).lower() if isinstance(v, bool) else str(v))
                           for k, v in example.items() if not isinstance(v, (list, dict))}
                op.body.model_validate(as_form)
        seen += 1
    assert seen >= 20


def _check(doc, resp, path, method):
    """The answer's status is documented for the operation and its body
    matches the documented schema."""
    op = doc["paths"][path][method]
    status = str(resp.status_code)
    assert status in op["responses"], (path, method, status, resp.get_json())
    schema = op["responses"][status]["content"]["application/json"]["schema"]
    _schema(doc, schema).validate(resp.get_json())
    return resp.get_json()


def test_answers_match_their_documented_schemas(app, doc, duty, api_as):
    report = {"domain": "drill", "event_type": "slide", "source_event_id": "doc-1",
              "lat": LIUQUAN[0], "lon": LIUQUAN[1], "score": 0.8, "boxes": [[0.1, 0.1, 0.5, 0.5]],
              "text": "山体滑坡"}
    created = _check(doc, duty.post("/api/v1/alerts", json=report), "/alerts", "post")
    assert created["created"] is True
    replay = _check(doc, duty.post("/api/v1/alerts", json=report), "/alerts", "post")
    assert replay["id"] == created["id"] and replay["created"] is False
    aid = created["id"]
    got = _check(doc, duty.get(f"/api/v1/alerts/{aid}"), "/alerts/{id}", "get")
    claimed = _check(doc, duty.post(f"/api/v1/alerts/{aid}/claim", json={}), "/alerts/{id}/claim", "post")
    # One alert shape: GET and the review actions answer the same fields.
    assert set(got) == set(claimed) and claimed["claimed_by"] == duty.user.login
    _check(doc, duty.post(f"/api/v1/alerts/{aid}/review", json={"verdict": "confirmed"}),
           "/alerts/{id}/review", "post")
    _check(doc, duty.get(f"/api/v1/alerts/{aid}/dispatch"), "/alerts/{id}/dispatch", "get")
    order = _check(doc, duty.post(f"/api/v1/alerts/{aid}/dispatch", json={"priority": "high"}),
                   "/alerts/{id}/dispatch", "post")
    _check(doc, duty.get(f"/api/v1/orders/{order['id']}"), "/orders/{id}", "get")
    _check(doc, duty.get("/api/v1/orders?limit=5"), "/orders", "get")
    _check(doc, duty.post(f"/api/v1/orders/{order['id']}/close", json={}), "/orders/{id}/close", "post")
    _check(doc, duty.get("/api/v1/me"), "/me", "get")
    _check(doc, duty.get(f"/api/v1/alerts/{aid + 1000}"), "/alerts/{id}", "get")
    _check(doc, app.test_client().get("/api/v1/me"), "/me", "get")
