"""The OpenAPI schema (/api/schema/) documents every status each operation can answer, with the error body
(spotopt.api.ProductAutoSchema, and the actions' own declarations). The rules are checked on every operation,
so a new one is held to them; the table below pins what each operation of today answers, exactly."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

ERROR_REF = "#/components/schemas/Error"
WRITES = {"post", "put", "patch", "delete"}
TOKEN_PATHS = {"/api/v1/auth/token/", "/api/v1/auth/token/refresh/", "/api/v1/auth/token/blacklist/"}
# Writes no person makes: the caller is an account, authenticated by its secret (no role, no session, no CSRF).
ACCOUNT_AUTHENTICATED_PATHS = {"/api/v1/risk/events/ingest/"}

# What each operation answers, besides its success: read from the views and the services they call.
EXPECTED_ERRORS = {
    ("get", "/api/v1/accounts/"): {400, 401, 404},  # a filter value or page_size; a cursor it did not give
    ("get", "/api/v1/accounts/{id}/"): {401, 404},
    ("patch", "/api/v1/accounts/{id}/"): {400, 401, 403, 404, 413, 415},
    ("delete", "/api/v1/accounts/{id}/"): {401, 403, 404},
    ("post", "/api/v1/accounts/{id}/retry/"): {400, 401, 403, 404, 409, 503},
    ("post", "/api/v1/onboarding/create/"): {400, 401, 403, 413, 415, 429, 503},
    ("get", "/api/v1/onboarding/{id}/template/"): {400, 401, 404, 503},  # GETs are not throttled
    ("post", "/api/v1/onboarding/{id}/verify/"): {400, 401, 403, 404, 409, 413, 415, 429, 503},
    ("post", "/api/v1/onboarding/connect/credentials/"): {400, 401, 403, 409, 413, 415, 429, 503},
    ("post", "/api/v1/onboarding/{id}/credentials/"): {400, 401, 403, 404, 409, 413, 415, 429, 503},
    ("get", "/api/v1/onboarding/{id}/discovery/"): {401, 404},
    ("post", "/api/v1/onboarding/{id}/discovery/"): {400, 401, 403, 404, 429},  # queued: AWS is not called
    ("get", "/api/v1/team/"): {401, 403, 404},  # operators have no team; a customer may have none
    ("patch", "/api/v1/team/"): {400, 401, 403, 404, 413, 415},
    ("get", "/api/v1/team/members/"): {400, 401, 403, 404},  # 400: page_size
    ("get", "/api/v1/team/members/{id}/"): {401, 403, 404},
    ("delete", "/api/v1/team/members/{id}/"): {400, 401, 403, 404},  # 400: not yourself
    ("get", "/api/v1/team/invitations/"): {400, 401, 403, 404},
    ("post", "/api/v1/team/invitations/"): {400, 401, 403, 409, 413, 415},  # 409: already a member
    ("get", "/api/v1/team/invitations/{id}/"): {401, 403, 404},
    ("delete", "/api/v1/team/invitations/{id}/"): {401, 403, 404, 409},  # 409: no longer pending
    ("get", "/api/v1/approvals/"): {400, 401, 404},
    ("get", "/api/v1/approvals/{id}/"): {401, 404},
    ("post", "/api/v1/approvals/{id}/approve/"): {400, 401, 403, 404, 409, 413, 415},
    ("post", "/api/v1/approvals/{id}/reject/"): {400, 401, 403, 404, 409, 413, 415},
    ("post", "/api/v1/approvals/{id}/retry/"): {401, 403, 404, 409},
    ("get", "/api/v1/instances/"): {400, 401, 404},
    ("get", "/api/v1/instances/{id}/"): {401, 404},
    ("patch", "/api/v1/instances/{id}/"): {400, 401, 403, 404, 413, 415},
    ("get", "/api/v1/risk/channels/"): {401},  # one row per account of yours: no filters, no pages
    ("get", "/api/v1/risk/channels/{account_id}/"): {401, 404},
    ("post", "/api/v1/risk/channels/{account_id}/rotate-secret/"): {401, 403, 404},
    ("get", "/api/v1/risk/events/"): {400, 401, 404},
    ("get", "/api/v1/risk/events/{id}/"): {401, 404},
    ("post", "/api/v1/risk/events/ingest/"): {400, 401, 413, 415, 429},  # 401: no valid secret; 429: throttled
    ("get", "/api/v1/risk/held/"): {400, 401, 404},
    ("get", "/api/v1/risk/held/{id}/"): {401, 404},
    ("post", "/api/v1/risk/held/{id}/dismiss/"): {400, 401, 403, 404, 409, 413, 415},
    ("post", "/api/v1/risk/held/{id}/release/"): {400, 401, 403, 404, 409, 413, 415},
    ("get", "/api/v1/risk/pools/"): {400, 401, 404},
    ("get", "/api/v1/risk/pools/{id}/"): {401, 404},
    ("post", "/api/v1/risk/pools/{id}/lift/"): {400, 401, 403, 404, 409, 413, 415},  # 409: not poisoned
    ("get", "/api/v1/risk/rejected/"): {400, 401, 404},
    ("get", "/api/v1/risk/rejected/{id}/"): {401, 404},
    ("get", "/api/v1/sla/downtime/"): {400, 401, 404},
    ("get", "/api/v1/sla/downtime/{id}/"): {401, 404},
    ("get", "/api/v1/sla/summary/"): {400, 401},  # 400: months or a filter value
    ("get", "/api/v1/experiments/"): {400, 401, 404},
    ("get", "/api/v1/experiments/{id}/"): {401, 404},
    ("get", "/api/v1/models/"): {400, 401, 403, 404},  # 403: not a Lab role
    ("post", "/api/v1/models/"): {400, 401, 403, 409, 413, 415},  # 400: not a safe model; 409: the name exists
    ("get", "/api/v1/models/{id}/"): {401, 403, 404},
    ("post", "/api/v1/models/{id}/move/"): {400, 401, 403, 404, 409, 413, 415},
    ("post", "/api/v1/models/{id}/activate/"): {400, 401, 403, 404, 409, 413, 415},
    ("get", "/api/v1/waste/"): {400, 401, 404},
    ("get", "/api/v1/waste/{id}/"): {401, 404},
    ("post", "/api/v1/waste/flag/"): {400, 401, 403, 404, 413, 415},  # 404: an id that is not yours
    ("post", "/api/v1/waste/schedule/"): {400, 401, 403, 404, 413, 415},
    ("post", "/api/v1/waste/exempt/"): {400, 401, 403, 404, 413, 415},
    ("post", "/api/v1/waste/scan/"): {400, 401, 403, 404, 413, 415},  # 400: the account is not connected
    ("get", "/api/v1/waste/summary/"): {400, 401},
    ("post", "/api/v1/auth/token/"): {400, 401, 413, 415, 429},  # 429: django-axes' lockout
    ("post", "/api/v1/auth/token/refresh/"): {400, 401, 413, 415},
    ("post", "/api/v1/auth/token/blacklist/"): {400, 401, 413, 415},
}
# The actions that call AWS in the request (the others queue their AWS work): 503 when AWS cannot be reached.
AWS_CALLING = {
    ("post", "/api/v1/accounts/{id}/retry/"),
    ("post", "/api/v1/onboarding/create/"),  # the platform's identity (STS), for the template's trust policy
    ("get", "/api/v1/onboarding/{id}/template/"),
    ("post", "/api/v1/onboarding/{id}/verify/"),
    ("post", "/api/v1/onboarding/connect/credentials/"),
    ("post", "/api/v1/onboarding/{id}/credentials/"),
}


@pytest.fixture(scope="module")
def schema():
    """The schema /api/schema/ serves (drf-spectacular's generator, in-process: no database needed)."""
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.mark.django_db
def test_the_served_schema_is_this_one(client_user, schema):
    api = APIClient()
    api.force_authenticate(client_user)
    response = api.get("/api/schema/")
    assert response.status_code == 200
    served = yaml.safe_load(response.content)
    assert {(m, p, tuple(sorted(o["responses"]))) for m, p, o in operations(served)} == {
        (m, p, tuple(sorted(o["responses"]))) for m, p, o in operations(schema)
    }


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield method, path, operation


def statuses(operation) -> set[int]:
    return {int(code) for code in operation["responses"]}


def error_statuses(operation) -> set[int]:
    return {code for code in statuses(operation) if code >= 400}


def query_parameters(operation) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}


def test_every_operation_of_today_documents_exactly_what_it_answers(schema):
    documented = {(method, path): error_statuses(op) for method, path, op in operations(schema)}

    assert set(EXPECTED_ERRORS) <= set(documented), set(EXPECTED_ERRORS) - set(documented)
    wrong = {
        f"{method.upper()} {path}": {"documented": sorted(documented[method, path]), "answers": sorted(expected)}
        for (method, path), expected in EXPECTED_ERRORS.items()
        if documented[method, path] != expected
    }
    assert not wrong, wrong


def test_the_actions_that_call_aws_and_only_they_document_503(schema):
    known = {(method, path) for method, path, _ in operations(schema) if (method, path) in EXPECTED_ERRORS}
    with_503 = {(method, path) for method, path, op in operations(schema) if 503 in statuses(op)}
    assert with_503 & known == AWS_CALLING


def test_every_error_answer_has_the_error_body(schema):
    for method, path, operation in operations(schema):
        for code in error_statuses(operation):
            response = operation["responses"][str(code)]
            assert response["content"] == {"application/json": {"schema": {"$ref": ERROR_REF}}}, (method, path, code)
            assert response["description"], (method, path, code)


def test_the_rules_hold_on_every_operation(schema):
    """What every operation, new ones too, must document."""
    for method, path, operation in operations(schema):
        where = f"{method.upper()} {path}"
        errors = error_statuses(operation)
        assert 401 in errors, where  # signed-in users only; wrong credentials on the token endpoints
        assert errors <= {400, 401, 403, 404, 409, 413, 415, 429, 503}, where
        if method in WRITES and path not in TOKEN_PATHS | ACCOUNT_AUTHENTICATED_PATHS:
            assert 403 in errors, where  # the role matrix, a service's policy, CSRF
        if "{" in path:
            assert 404 in errors, where
        if "page" in query_parameters(operation):
            assert 404 in errors, where  # a page past the end
            page = next(p for p in operation["parameters"] if p["name"] == "page")
            assert page["schema"] == {"type": "integer", "minimum": 1}, where
        if "requestBody" in operation:
            assert {400, 413, 415} <= errors, where
        if query_parameters(operation) - {"page"}:
            assert 400 in errors, where
        if path.startswith("/api/v1/onboarding/") and method == "post":
            assert 429 in errors, where  # the onboarding throttle


def test_requests_say_what_they_take_and_responses_what_they_give(schema):
    components = schema["components"]["schemas"]
    create = components["PendingAccountCreateRequest"]
    assert create["required"] == ["account_name"]
    assert create["properties"]["account_name"]["minLength"] == 1  # a blank name is not a valid request
    rename = components["PatchedAccountUpdateRequest"]["properties"]
    assert rename["account_name"]["minLength"] == 1
    assert "id" not in rename and "status" not in rename  # read-only fields are not part of requests
    keys = components["AccessKeysRequest"]["properties"]
    assert keys["secret_access_key"]["writeOnly"] is True
    assert not any("secret_access_key" in c.get("properties", {}) for n, c in components.items() if "Request" not in n)


def test_the_template_is_documented_as_the_same_document_in_json_and_yaml(schema):
    operation = schema["paths"]["/api/v1/onboarding/{id}/template/"]["get"]
    ok = operation["responses"]["200"]
    template = {"$ref": "#/components/schemas/CloudFormationTemplate"}
    assert ok["content"] == {"application/json": {"schema": template}, "application/x-yaml": {"schema": template}}
    assert "Content-Disposition" in ok["headers"]
    output = next(p for p in operation["parameters"] if p["name"] == "output")
    assert output["schema"]["enum"] == ["json", "yaml"]
    assert {"AWSTemplateFormatVersion", "Resources", "Outputs"} <= set(
        schema["components"]["schemas"]["CloudFormationTemplate"]["required"]
    )


def test_the_token_endpoints_document_their_answers(schema):
    def ok_schema(path):
        return schema["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]

    pair = {"$ref": "#/components/schemas/TokenPair"}
    assert ok_schema("/api/v1/auth/token/") == pair
    assert ok_schema("/api/v1/auth/token/refresh/") == pair
    assert schema["components"]["schemas"]["TokenPair"]["required"] == ["access", "refresh"]
    assert ok_schema("/api/v1/auth/token/blacklist/") == {"type": "object", "additionalProperties": False}


def test_the_team_is_one_object_not_a_page(schema):
    operation = schema["paths"]["/api/v1/team/"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Team"
    }
    assert "parameters" not in operation or not query_parameters(operation)


def test_discovery_progress_is_documented(schema):
    for method, code in (("get", "200"), ("post", "202")):
        operation = schema["paths"]["/api/v1/onboarding/{id}/discovery/"][method]
        content = operation["responses"][code]["content"]["application/json"]["schema"]
        assert content == {"$ref": "#/components/schemas/AccountProgress"}
    progress = schema["components"]["schemas"]["DiscoveryProgress"]["properties"]
    assert {"state", "regions_total", "regions_done", "percent", "instances_found"} <= set(progress)


def test_the_error_body_is_documented(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["code", "detail"]
    assert set(error["properties"]) == {"detail", "code", "errors"}
    assert error["properties"]["errors"]["type"] == "object"


def test_generating_the_schema_emits_no_warnings_or_errors(tmp_path):
    """`manage.py spectacular --validate --fail-on-warn` (what CI publishes), with every operation above."""
    target = tmp_path / "schema.yaml"
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", str(target)],
        cwd=Path(settings.BASE_DIR),
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "spotopt.settings_test"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stderr and "Error" not in result.stderr.replace("Errors:   0", "")
    generated = set(yaml.safe_load(target.read_text())["paths"])
    assert {path for _, path in EXPECTED_ERRORS} <= generated
