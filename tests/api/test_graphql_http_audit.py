"""GraphQL-over-HTTP conformance: the graphql-http server audit passes in full.

`scripts/graphql-http-audit.sh` starts a throwaway server and runs every audit of the pinned
`graphql-http` package against it. The in-process test below pins the error shape of the
audit's parse-error requests.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from graph.view import GRAPHQL_RESPONSE_JSON

ROOT = Path(__file__).resolve().parents[2]
AUDIT_SCRIPT = ROOT / "scripts" / "graphql-http-audit.sh"
AUDIT_TIMEOUT_SECONDS = 300
SUMMARY = re.compile(r"^graphql-http audit: (\d+) passed, 0 failed$", re.MULTILINE)


def _require_node() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if not missing:
        return
    reason = f"the graphql-http audit needs Node.js; not found on PATH: {', '.join(missing)}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.mark.slow
@pytest.mark.timeout(AUDIT_TIMEOUT_SECONDS + 60)
def test_graphql_http_server_audit_passes_in_full() -> None:
    _require_node()
    # A session of its own, so a timeout can stop the script and the server it started.
    process = subprocess.Popen(
        ["bash", str(AUDIT_SCRIPT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=AUDIT_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"the audit did not finish in {AUDIT_TIMEOUT_SECONDS}s:\n{output}")
    assert process.returncode == 0, output
    assert "0 failed" in output, output
    summary = SUMMARY.search(output)
    assert summary is not None, output
    assert int(summary.group(1)) > 0, output


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    ("accept", "status"), [(GRAPHQL_RESPONSE_JSON, 400), ("application/json", 200)]
)
async def test_document_parse_errors_keep_the_error_shape(
    client: httpx.AsyncClient, accept: str, status: int
) -> None:
    response = await client.post(
        "/graphql",
        json={"query": "{"},
        headers={"accept": accept},
    )
    assert response.status_code == status
    body = response.json()
    assert "data" not in body
    [error] = body["errors"]
    assert error["message"].startswith("Syntax Error")
    request_id = body["extensions"]["requestId"]
    assert request_id
    assert error["extensions"] == {"code": "BAD_REQUEST", "status": 400, "requestId": request_id}
