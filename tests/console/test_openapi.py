"""schemathesis against the OpenAPI spec: generated requests to every operation never get a 5xx."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import HealthCheck, given, settings

from tests.console.conftest import Site

EXAMPLES = 10  # per operation: enough to hit bad types, bounds and missing fields, and stay fast


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_no_5xx_for_generated_requests(sqlite_site: Site) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import schemathesis

    site = sqlite_site
    auth = site.as_("admin")
    schema = schemathesis.openapi.from_asgi("/openapi.json", site.client.app)
    ops = [r.ok() for r in schema.get_all_operations()]
    assert len(ops) >= 20
    failures: list[str] = []
    seen: dict[str, set[int]] = {}

    modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
    for op, mode in [(op, mode) for op in ops for mode in modes]:
        if op.path == "/api/stream":
            continue  # an endless event stream; covered by its own tests

        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def run(case) -> None:  # noqa: ANN001
            headers = dict(case.headers or {})
            if op.path != "/api/logout":  # logging out would end the session used for the rest
                headers.setdefault("Authorization", auth["Authorization"])
            elif "Authorization" in headers:
                headers.pop("Authorization")
            resp = case.call(headers=headers)
            seen.setdefault(f"{op.method.upper()} {op.path}", set()).add(resp.status_code)
            if resp.status_code >= 500:
                failures.append(f"{op.method.upper()} {case.formatted_path} -> {resp.status_code}: {resp.text[:300]}")

        run()
    assert failures == [], "\n".join(failures[:20])
    # the generated requests reached real handlers, not only the validation layer
    assert any(200 <= c < 300 for codes in seen.values() for c in codes)
    assert any(c == 422 for codes in seen.values() for c in codes)
