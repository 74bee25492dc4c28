"""A bounded schemathesis run over the service's OpenAPI schema: generated requests, valid ones and invalid ones,
never get a 5xx, and every answer matches the schema (status codes, content types, headers, bodies).

Bounded so the suite stays fast: EXAMPLES cases per operation and generation mode, derandomised (the same cases on
every run, so a failure here is a regression, not luck). Driven through schemathesis' strategies rather than its
pytest plugin (`schemathesis.pytest.from_fixture` fails under pytest 9: it reads a private attribute)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.generation.modes import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

from tests.service.conftest import AUTH, TOKEN  # noqa: E402

EXAMPLES = 20  # per operation and mode: ~5 s for the whole schema here


@pytest.fixture(scope="module")
def api_schema(service_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from graphrec.service import ServeConfig, create_app

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRAPHREC_API_TOKEN", TOKEN)
        db = tmp_path_factory.mktemp("fuzz") / "events.sqlite3"
        app = create_app(service_run, ServeConfig(db=str(db), index="exact"))

    async def without_lifespan(scope, receive, send) -> None:
        # schemathesis' pytest plugin ends an app's lifespan after each test (which closes the service); this
        # fixture closes it once, after the module, instead.
        if scope["type"] != "lifespan":
            await app(scope, receive, send)

    yield schemathesis.openapi.from_asgi("/openapi.json", without_lifespan)
    app.state.service.close()


def _operations(schema) -> list:
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_every_operation_answers_by_its_schema(api_schema, mode: GenerationMode) -> None:
    operations = _operations(api_schema)
    paths = {(op.method.upper(), op.path) for op in operations}
    assert ("POST", "/v1/interactions") in paths and ("GET", "/v1/users/{user_id}/recommendations") in paths
    for operation in operations:
        inputs = len(operation.path_parameters) + len(operation.query) + len(operation.body)
        if mode is GenerationMode.NEGATIVE and inputs == 0:
            continue  # nothing to send wrong to /healthz, /metrics, /docs
        # A new item's features are checked against the served model (422 for a model without features, or a
        # vector of the wrong length): no schema can say so, so schema-valid items may rightly be refused.
        _fuzz(operation, mode, [positive_data_acceptance] if operation.path == "/v1/items" else [])


def _fuzz(operation, mode: GenerationMode, excluded: list) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    def check(case) -> None:
        case.call_and_validate(headers=AUTH, excluded_checks=excluded)

    check()
