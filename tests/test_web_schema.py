"""schemathesis against the live OpenAPI schema: no 5xx, and every response as the schema says.

The app runs in process (ASGI) over the seed pages plus the web fixture papers, keyword-only. Every GET
and POST operation in /api/v1/openapi.json gets generated requests, on a server without an admin token
(admin operations answer 403) and on one with it (answered with the generated header, then with the
right bearer token). Generated ids and queries rarely hit a stored paper, so each operation also runs
with real paper ids, collection names and a query that matches (other parameters still generated).
Examples are bounded and derandomized: the run is the same every time, and short.

Each operation is a pytest subtest. (schemathesis's own `from_fixture` loader needs a pytest private
attribute that pytest 9 removed, so the loop over operations is ours.)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from paperwire.web import create_app
from web_helpers import ART_V_TITLE, build_data_dir, paper_id_by_title

ADMIN_TOKEN = "schemathesis-admin-token-0123456789"
RIGHT_TOKEN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
IMPOSSIBLE_DAY = re.compile(r"-(0?2-(29|3[01])|(0?[469]|11)-31)$")


@schemathesis.check
def accepts_valid_data(ctx: Any, response: Any, case: schemathesis.Case) -> bool | None:
    """A request the schema allows is answered 2xx (or 401/403/404/409/429), never 422.

    Except a day its month lacks (2023-02-30): a pattern cannot know the calendar, the server does.
    """
    dates = [case.query.get(name) for name in ("since", "until")] if case.query else []
    if any(isinstance(d, str) and IMPOSSIBLE_DAY.search(d) for d in dates) and response.status_code == 422:
        return None
    return positive_data_acceptance(ctx, response, case)


# Not for ingest: the schema cannot say which bytes make a readable file, so a generated body is fairly
# refused as input (422).
CHECKS = [*CONFORMANCE, accepts_valid_data]
INGEST = "POST /api/v1/admin/ingest"
# Requests that break the schema must be refused with a documented 4xx, never a 5xx.
NEGATIVE_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance]
EXAMPLES = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 10}
MATCHING_QUERY = "Xception"


class Server:
    """A schema loaded from a live app, and real values to aim generated requests at."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, name: str, **overrides: Any) -> None:
        self.settings = settings = build_data_dir(tmp_path_factory.mktemp(name) / "data", **overrides)
        app = create_app(settings)
        self.schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
        client = TestClient(app)
        hits = client.get("/api/v1/search", params={"q": MATCHING_QUERY, "limit": 3}).json()["hits"]
        self.paper_ids = [hit["id"] for hit in hits] + [paper_id_by_title(settings, ART_V_TITLE)]
        self.collections = [c["name"] for c in client.get("/api/v1/collections").json()]
        assert len(self.paper_ids) == 4 and self.collections

    def operations(self, admin_only: bool = False) -> list[Any]:
        """The schema's GET and POST operations (only /api/v1/admin/ ones when admin_only)."""
        found = [result.ok() for result in self.schema.get_all_operations() if isinstance(result, Ok)]
        assert len(found) == len(list(self.schema.get_all_operations())), "an operation did not load"
        return [
            op for op in found
            if op.method.upper() in ("GET", "POST")
            and (not admin_only or op.path.startswith("/api/v1/admin/"))
        ]  # fmt: skip

    def aims(self, operation: Any) -> list[dict[str, Any]]:
        """Fixed parts of requests that reach real data: a paper, a collection, a matching query."""
        names = {parameter.name for parameter in operation.iter_parameters()}
        if "paper_id" in names:
            return [{"path_parameters": {"paper_id": paper_id}} for paper_id in self.paper_ids]
        if "name" in names and operation.path.endswith("{name}"):
            return [{"path_parameters": {"name": name}} for name in self.collections]
        if "q" in names:
            return [{"query": {"q": MATCHING_QUERY}}]
        if "first" in names:
            return [{"query": {"first": self.collections[0], "second": self.collections[-1]}}]
        return []


def fuzz(
    operation: Any, mode: GenerationMode, exercise: Callable[[schemathesis.Case], None],
    examples: int | None = None, **fixed: Any,
) -> None:  # fmt: skip
    """Run exercise over bounded, derandomized generated cases of one operation."""

    @settings(
        max_examples=examples or EXAMPLES[mode], derandomize=True, database=None, deadline=None,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    def run(case: schemathesis.Case) -> None:
        exercise(case)

    try:
        run()
    except Unsatisfiable:
        # Nothing can break this operation's schema (no parameters, or only free strings).
        if mode is not GenerationMode.NEGATIVE:
            raise


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Server:
    return Server(tmp_path_factory, "schema-open")


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory: pytest.TempPathFactory) -> Server:
    return Server(tmp_path_factory, "schema-admin", admin_token=ADMIN_TOKEN)


def checks_for(case: schemathesis.Case) -> list[Any]:
    return CONFORMANCE if case.operation.label == INGEST else CHECKS


def test_api_conforms_without_admin_token(open_server: Server, subtests: Any) -> None:
    """Every operation; admin ones are refused (403) because this server has no admin token."""

    def positive(case: schemathesis.Case) -> None:
        response = case.call_and_validate(checks=checks_for(case))
        if case.path.startswith("/api/v1/admin/"):
            assert response.status_code == 403, response.text

    def negative(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=NEGATIVE_CHECKS)

    chosen = open_server.operations()
    assert {"GET /api/v1/search", "GET /api/v1/papers/{paper_id}", INGEST} <= {op.label for op in chosen}
    for operation in chosen:
        with subtests.test(msg=operation.label):
            fuzz(operation, GenerationMode.POSITIVE, positive)
            fuzz(operation, GenerationMode.NEGATIVE, negative)
            for fixed in open_server.aims(operation):
                fuzz(operation, GenerationMode.POSITIVE, positive, examples=10, **fixed)


def test_admin_api_conforms_with_admin_token(admin_server: Server, subtests: Any) -> None:
    """Admin operations on a server with a token: as generated (a wrong token, 401), then the right one."""

    def positive(case: schemathesis.Case) -> None:
        generated = case.call_and_validate(checks=checks_for(case))
        assert generated.status_code == 401, generated.text
        right = case.call_and_validate(checks=checks_for(case), headers=RIGHT_TOKEN)
        assert right.status_code not in (401, 403), right.text

    chosen = admin_server.operations(admin_only=True)
    assert {op.label for op in chosen} == {INGEST, "POST /api/v1/admin/reindex"}
    for operation in chosen:
        with subtests.test(msg=operation.label):
            fuzz(operation, GenerationMode.POSITIVE, positive)


@pytest.mark.parametrize(
    "where", ["/api/v1/search", "/api/v1/topics", "/feeds/search.atom", "/search"]
)  # fmt: skip
@pytest.mark.parametrize("dates", [{"since": "1000"}, {"until": "9999-12"}, {"since": "1677-01-01"}])
def test_dates_the_index_cannot_hold_are_invalid_input(
    open_server: Server, where: str, dates: dict[str, str]
) -> None:
    """Found by schemathesis: since=1000 reached the keyword index, which cannot hold it (a 500)."""
    # A new app: schemathesis's pytest plugin ends the ASGI lifespan of the schema's app (which closes
    # its Library) when the test that used it ends.
    client = TestClient(create_app(open_server.settings, prepared=True), raise_server_exceptions=False)
    response = client.get(where, params={"q": MATCHING_QUERY, **dates})
    assert response.status_code == 422, response.text
    assert "dates run from 1700 to 2199" in response.text
    fine = client.get(where, params={"q": MATCHING_QUERY, "since": "1700", "until": "2199-12-31"})
    assert fine.status_code == 200, fine.text
