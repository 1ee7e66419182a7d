"""The sandbox's writer identity runs under exactly the documented writer policy (issue 19.10): no
action the document does not grant (it once had s3:PutObjectTagging and PutObjectVersionTagging)."""

from __future__ import annotations

import json
from pathlib import Path

from drkit.sandbox.s3server import DOCUMENTED_BUCKET, writer_policy

DOC = Path(__file__).resolve().parents[2] / "docs" / "iam" / "writer-policy.json"


def _actions(policy: dict[str, object], effect: str) -> set[str]:
    statements = policy["Statement"]
    assert isinstance(statements, list)
    return {a for s in statements if s["Effect"] == effect for a in s["Action"]}


def test_the_sandbox_writer_policy_is_the_documented_one() -> None:
    assert writer_policy(DOCUMENTED_BUCKET) == json.loads(DOC.read_text())


def test_for_any_bucket_only_the_resources_change() -> None:
    documented = json.loads(DOC.read_text())
    sandbox = writer_policy()
    assert _actions(sandbox, "Allow") == _actions(documented, "Allow")
    assert _actions(sandbox, "Deny") == _actions(documented, "Deny")
    assert not {"s3:PutObjectTagging", "s3:PutObjectVersionTagging"} & _actions(sandbox, "Allow")
    text = json.dumps(sandbox)
    assert DOCUMENTED_BUCKET not in text
    assert "arn:aws:s3:::*/*" in text
