"""The chatbot API under generated requests (schemathesis, from the app's own OpenAPI schema)
against the real components of test_api: no request answers 500, every response matches the
schema, and the admin reload never answers 2xx without the token."""

import os

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.serving.home import serving_home

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory, tiny_bert):
    with serving_home(tmp_path_factory.mktemp("fuzz"), tiny_bert):
        os.environ.pop("LLM_BASE_URL", None)  # chat answers with the no-LLM fallback: fast and bounded
        from stock_serving.api import app

        with TestClient(app):  # runs the lifespan: the serving state exists while the cases run
            yield schemathesis.openapi.from_asgi("/openapi.json", app)


@schemathesis.check
def reload_needs_the_token(ctx, response, case):
    if case.path == "/v1/admin/reload" and 200 <= response.status_code < 300:
        headers = {k.lower(): v for k, v in (case.headers or {}).items()}
        assert headers.get("authorization") == "Bearer test-admin-token", f"reload answered {response.status_code} to {headers!r}"


def test_generated_requests_never_fail_the_server(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/forecast/{symbol}", "/v1/news/search", "/v1/chat", "/v1/admin/reload"}
    calls: dict[str, int] = {}
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def generated(case):
            case.call_and_validate(checks=[not_a_server_error, response_schema_conformance, reload_needs_the_token])
            calls[case.path] = calls.get(case.path, 0) + 1

        generated()
    # every endpoint really exercised (those without inputs have one distinct request)
    assert len(calls) == len(operations) and all(calls[p] >= 10 for p in calls if p not in ("/healthz", "/readyz")), calls
