"""The OpenAPI schema describes the API: schemathesis, against the live test server, finds no response
the schema does not document and no invalid input accepted.

A bounded run (at most SCHEMATHESIS_MAX_EXAMPLES per operation and SCHEMATHESIS_MAX_SECONDS in all)
of every operation, in every phase (examples, coverage, fuzzing, and the stateful phase that chains
operations by the ids they return), with the conformance checks, the negative ones (invalid input,
a missing header, an unsupported method, no credentials: each must be refused with a 4xx) and the
stateful ones (a deleted resource is gone, a created one can be read). A project with a page and
lines exists, so ids in paths can hit real rows.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from rest_framework.authtoken.models import Token

from tests.webapp.conftest import png_bytes
from webapp.corpus.lines import LineData
from webapp.corpus.services import line_create, pages_upload

pytestmark = pytest.mark.django_db(transaction=True)

REPORTS = Path(__file__).resolve().parents[2] / "artifacts" / "schemathesis"
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", 50))
MAX_SECONDS = int(os.environ.get("SCHEMATHESIS_MAX_SECONDS", 300))
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance",
          # negative: invalid input, a missing required header, a method the path does not have, no credentials
          "negative_data_rejection", "missing_required_header", "unsupported_method", "ignored_auth",
          # stateful (the phase that chains a create into reads and deletes by the ids it returned)
          "use_after_free", "ensure_resource_availability"]


def test_schemathesis_finds_every_response_documented_and_bad_input_refused(live_server, manager, project):
    [stored] = pages_upload(project=project, user=manager, files=[("will.png", png_bytes())])
    for n in range(3):
        line_create(page=stored.page, user=manager, data=LineData(bbox=[10, 10 + 20 * n, 100, 25 + 20 * n],
                                                                 text=f"ligne {n}"))
    token = Token.objects.create(user=manager)
    report = REPORTS / "junit.xml"
    REPORTS.mkdir(parents=True, exist_ok=True)
    command = [str(Path(sys.executable).with_name("schemathesis")), "run", f"{live_server.url}/api/schema/",
               "--checks", ",".join(CHECKS), "--mode", "all", "--max-examples", str(MAX_EXAMPLES),
               "--max-time", str(MAX_SECONDS), "--workers", "1", "--seed", "20261202", "--no-color",
               "--generation-database", "none",
               "--header", f"Authorization: Token {token.key}", "--request-timeout", "60",
               "--report", "junit", "--report-junit-path", str(report)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=MAX_SECONDS + 240)
    (REPORTS / "output.txt").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, failures(report) + "\n" + result.stdout[-3000:] + result.stderr[-2000:]


def failures(report: Path) -> str:
    """One line per failing operation, with the checks it failed (the whole output is in REPORTS)."""
    if not report.exists():
        return "no report"
    lines = []
    for case in ElementTree.parse(report).iter("testcase"):
        problems = [node.get("message") or (node.text or "")[:200] for node in case if node.tag in ("failure", "error")]
        if problems:
            lines.append(f"{case.get('name')}: " + " | ".join(sorted({p.splitlines()[0] for p in problems if p})))
    return "\n".join(lines)
