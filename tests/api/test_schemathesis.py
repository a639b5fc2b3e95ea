"""Every API operation against the app's own OpenAPI document (schemathesis).

Schemathesis loads /api/v1/openapi.json from the app and, for EVERY
operation, sends generated requests through the WSGI transport with three
kinds of token: a duty officer's, a unit handler's and a source (AI box)
token. Each answer must not be a server error and must conform to the
document: a documented status code, the documented content type, a body valid
against the documented schema.

Two passes per operation and token:
- generated cases (hypothesis), valid and invalid by the schema, derandomized;
- schemathesis' coverage cases: boundary and type-violating values of every
  parameter and body field, enumerated (deterministic by construction).

The database is migrated and holds the demo organisation, an alert waiting
for review and a dispatched order. A generated well-formed id is pointed at
those rows (half of the hypothesis cases, every coverage case), so bodies reach
validation and the workflow rather than a 404. Requests change state (reviews,
accepts, closes...): later cases meet 409s and other states, as clients do.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import api_as, app, make_alert  # noqa: F401 - fixtures

# Per operation and token: 5 generated cases; the coverage cases (10-190 per
# operation) all run. About 2 300 requests per token.
EXAMPLES = 5
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


@pytest.fixture
def world(app, org, api_as, make_alert):  # noqa: F811
    """Tokens, and the ids of a waiting alert and of a dispatched order."""
    from webapp.extensions import db
    from webapp.platform.security import create_api_token

    duty = api_as("duty_officer", "duty")
    handler = api_as("unit_handler", "natural_resources.geology_mining_office")
    _row, source = create_api_token(source="schemathesis-box")
    db.session.commit()
    waiting = make_alert(status="new")
    to_dispatch = make_alert()
    resp = duty.post(f"/api/v1/alerts/{to_dispatch.id}/dispatch", json={})
    assert resp.status_code == 201, resp.get_json()
    return {
        "tokens": {"duty": duty.token, "handler": handler.token, "source": source},
        "alert": waiting.id,
        "order": resp.get_json()["id"],
    }


def _known_id(path, world):
    return world["order"] if path.startswith("/orders/{id}") else world["alert"]


def _send(app, case, headers, seen, label, kind):  # noqa: F811 - app is the fixture's value
    # The app's own test client: each request gets a fresh ``g`` although the
    # test holds an app context (tests/conftest.py FreshGlobalsClient).
    response = case.call(session=app.test_client(), app=app, headers=headers)
    seen.add((label, kind, response.status_code))
    case.validate_response(response, checks=CHECKS, headers=headers)


def test_every_operation_conforms_to_the_document(app, world):  # noqa: F811
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    documented = {f"{method.upper()} {path}" for path, item in schema.raw_schema["paths"].items()
                  for method in item}
    # Schemathesis leaves out the endpoint it loaded the document from;
    # test_openapi_document.py validates that one as OpenAPI 3.1.
    assert documented - {op.label for op in operations} == {"GET /openapi.json"}
    assert len(operations) >= 30
    failures: list[str] = []
    seen: set[tuple[str, str, int]] = set()

    for operation in operations:
        label, path = operation.label, operation.path
        strategy = st.one_of(*(operation.as_strategy(mode) for mode in MODES))
        if "{id}" in path:
            fixed = {"id": _known_id(path, world)}
            strategy = st.one_of(strategy, *(operation.as_strategy(mode, path_parameters=fixed)
                                             for mode in MODES))
        generation = schema.config.generation_for(operation=operation, phase="coverage")
        coverage = list(schema.iter_coverage_cases(operation, generation_modes=MODES,
                                                   generation_config=generation))
        for case in coverage:
            ident = (case.path_parameters or {}).get("id")
            if isinstance(ident, int) and not isinstance(ident, bool) and 0 < ident <= 2**31 - 1:
                case.path_parameters["id"] = _known_id(path, world)

        for kind, token in world["tokens"].items():
            headers = {"Authorization": f"Bearer {token}"}

            @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                      phases=[Phase.explicit, Phase.generate],  # no shrinking: report as found
                      suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def generated(case):
                _send(app, case, headers, seen, label, kind)

            # Every operation and token runs; the failures are reported together.
            # FailureGroup (the checks' verdict) is a BaseExceptionGroup.
            try:
                generated()
            except (Exception, FailureGroup) as exc:
                failures.append(f"[{kind} token] {label}: {exc}")
            for case in coverage:
                try:
                    _send(app, case, headers, seen, label, kind)
                except (Exception, FailureGroup) as exc:
                    failures.append(f"[{kind} token, coverage case] {label}: {exc}")
                    break  # one per operation and token is enough to read

    assert not failures, f"{len(failures)} failing operation/token pairs:\n\n" + "\n\n".join(failures)
    # Each operation answered each token, and the real ids were reached:
    # answers that needed the row (2xx, 409) came back, not only 401/403/404.
    assert {(label, kind) for label, kind, _code in seen} == {
        (op.label, kind) for op in operations for kind in world["tokens"]}
    reached = {label for label, _kind, code in seen if code < 300 or code == 409}
    assert {"GET /alerts/{id}", "GET /orders/{id}", "GET /orders/{id}/pdf", "POST /orders/{id}/accept",
            "POST /alerts/{id}/review", "POST /alerts"} <= reached, sorted(reached)
