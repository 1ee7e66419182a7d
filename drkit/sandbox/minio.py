"""MinIO on loopback: a random root user (admin) and an STS writer restricted by a session policy.

The writer comes from STS ``AssumeRole`` called by the root user with an inline session policy: MinIO
evaluates that policy even for root-derived credentials (``IsAllowedSTS``), so the restriction is
the server's, not a convention. No ``mc`` and no admin API (whose payloads are encrypted) needed.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path

from drkit.errors import SandboxError
from drkit.sandbox import binaries, process
from drkit.sandbox.ports import free_port
from drkit.sandbox.s3server import (
    DEFAULT_BUCKET,
    REGION,
    S3Credentials,
    S3Server,
    describe,
    random_credentials,
    retry_until,
    s3_request,
    writer_policy,
    xml_find,
)
from drkit.secret import Secret

READY_TIMEOUT = 60.0
WRITER_SESSION_SECONDS = 30 * 24 * 3600  # MinIO accepts 900 s .. 365 days


def start(workdir: Path, *, timeout: float = READY_TIMEOUT, host: str = "127.0.0.1") -> S3Server:
    """``host``: loopback, or a real node's pod network gateway so that pods reach the same endpoint."""
    exe = binaries.find("minio")
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    port, console = free_port(), free_port()
    endpoint = f"http://{host}:{port}"
    admin = random_credentials("root")
    env = {
        "MINIO_ROOT_USER": admin.access_key,
        "MINIO_ROOT_PASSWORD": str(admin.secret_key.reveal()),
        "MINIO_REGION": REGION,
        "MINIO_UPDATE": "off",
        "MINIO_CALLHOME_ENABLE": "off",
    }
    argv: list[str | Path] = [
        exe,
        "server",
        data,
        "--address",
        f"{host}:{port}",
        "--console-address",
        f"127.0.0.1:{console}",
        "--certs-dir",
        workdir / "certs",
    ]
    proc = process.start("minio", argv, workdir / "minio.log", env=env, cwd=workdir)
    try:
        process.wait_until(
            lambda: _ready(endpoint), what=f"minio readiness at {endpoint}", process=proc, timeout=timeout
        )
        # Ready for S3 is not yet ready for IAM ("Server not initialized"): retry the first calls.
        writer = retry_until(
            lambda: assume_role(endpoint, admin, writer_policy(), WRITER_SESSION_SECONDS),
            process=proc,
            timeout=timeout,
        )
        server = S3Server(
            kind="minio",
            endpoint=endpoint,
            region=REGION,
            bucket=DEFAULT_BUCKET,
            admin=admin,
            writer=writer,
            workdir=workdir,
            processes=[proc],
        )
        retry_until(lambda: server.create_bucket(DEFAULT_BUCKET), process=proc, timeout=timeout)
    except BaseException:
        proc.stop()
        raise
    return server


def _ready(endpoint: str) -> bool:
    with urllib.request.urlopen(f"{endpoint}/minio/health/ready", timeout=2.0) as resp:  # noqa: S310
        return int(resp.status) == 200


def assume_role(
    endpoint: str, caller: S3Credentials, policy: dict[str, object], seconds: int
) -> S3Credentials:
    """Temporary credentials of ``caller`` narrowed by the session ``policy`` (STS AssumeRole)."""
    form = {
        "Action": "AssumeRole",
        "Version": "2011-06-15",
        "DurationSeconds": str(seconds),
        "Policy": json.dumps(policy, separators=(",", ":")),
    }
    body = urllib.parse.urlencode(form).encode()
    status, _, reply = s3_request(
        endpoint,
        caller,
        "POST",
        "/",
        headers={"content-type": "application/x-www-form-urlencoded"},
        body=body,
        service="sts",
    )
    key, secret, token = (xml_find(reply, t) for t in ("AccessKeyId", "SecretAccessKey", "SessionToken"))
    if status != 200 or not key or not secret or not token:
        raise SandboxError(f"minio: STS AssumeRole for the writer failed: {describe(status, reply)}")
    return S3Credentials(access_key=key, secret_key=Secret(secret), session_token=Secret(token))
