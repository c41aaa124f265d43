"""openapi/openapi.json is the published contract: it must be what the code generates."""

import json

from app.main import openapi_json
from tests.fixtures.paths import ROOT

SPEC = ROOT / "openapi" / "openapi.json"


def test_checked_in_openapi_matches_the_code():
    generated = json.loads(openapi_json())
    checked_in = json.loads(SPEC.read_text(encoding="utf-8"))
    assert checked_in == generated, (
        "openapi/openapi.json has drifted from the code: run "
        "`haochaping openapi --out openapi/openapi.json` and commit it"
    )


def test_contract_names_the_rating_endpoints_and_problem_errors():
    spec = json.loads(openapi_json())
    assert {"/v1/ratings", "/v1/ratings/batch", "/v1/ratings/{rating_id}"} <= set(spec["paths"])
    rating_in = spec["components"]["schemas"]["RatingIn"]
    assert rating_in["additionalProperties"] is False
    assert {"event_id", "level", "rated_at"} <= set(rating_in["required"])
    post = spec["paths"]["/v1/ratings"]["post"]["responses"]
    assert "application/problem+json" in post["422"]["content"]


def test_contract_declares_signed_requests_wherever_a_key_is_taken():
    spec = json.loads(openapi_json())
    scheme = spec["components"]["securitySchemes"]["HCPSignature"]
    assert scheme["in"] == "header" and scheme["name"] == "X-HCP-Signature"
    for header in ("X-HCP-Key-Id", "X-HCP-Timestamp", "X-HCP-Nonce", "HCP1-HMAC-SHA256"):
        assert header in scheme["description"]
    keyed = [
        (path, method, operation["security"])
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if operation.get("security")
    ]
    assert len(keyed) > 30
    for path, method, security in keyed:
        assert {"HCPSignature": []} in security, (method, path)
