"""SeaweedFS on loopback: ``weed server`` (master, volume, filer, S3) with admin and writer identities.

Every listener, gRPC ones included, gets an explicit free port on 127.0.0.1. The writer is an
identity whose only grant is an attached IAM policy document: SeaweedFS evaluates attached policies
action by action (``s3:PutObject`` is not ``s3:DeleteObject``), whereas its coarse legacy action
``Write`` would include deletes and bucket configuration.

SeaweedFS enforces Object Lock in its S3 gateway only: its filer HTTP (and gRPC) API deletes a
COMPLIANCE-locked version without asking (``DELETE /buckets/<b>/<key>.versions?recursive=true``
answers 204, then the version is gone). Here every port is on loopback; a real deployment must keep
master, volume and filer ports away from anyone who is not the S3 gateway.
"""

from __future__ import annotations

import json
from pathlib import Path

from drkit.sandbox import binaries, process
from drkit.sandbox.ports import free_port, is_listening
from drkit.sandbox.s3server import (
    DEFAULT_BUCKET,
    REGION,
    S3Credentials,
    S3Server,
    random_credentials,
    retry_until,
    s3_request,
    writer_policy,
)

READY_TIMEOUT = 90.0
STOP_TIMEOUT = 3.0
WRITER_POLICY_NAME = "drkit-writer"
SOCKET_DIR = Path("/tmp")  # noqa: S108 - where weed puts its local sockets, named by port

# One volume per new collection (each bucket is one) instead of seven: buckets are cheap per test.
MASTER_TOML = """\
[master.volume_growth]
copy_1 = 1
copy_2 = 1
copy_3 = 1
copy_other = 1
"""


def s3_config(admin: S3Credentials, writer: S3Credentials) -> dict[str, object]:
    """The ``-s3.config`` document: an Admin identity and a writer bound to an IAM policy."""
    return {
        "identities": [
            {
                "name": "drkit-admin",
                "credentials": [{"accessKey": admin.access_key, "secretKey": admin.secret_key.reveal()}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            },
            {
                "name": "drkit-writer",
                "credentials": [{"accessKey": writer.access_key, "secretKey": writer.secret_key.reveal()}],
                "policyNames": [WRITER_POLICY_NAME],
            },
        ],
        "policies": [{"name": WRITER_POLICY_NAME, "content": json.dumps(writer_policy())}],
    }


def start(workdir: Path, *, timeout: float = READY_TIMEOUT) -> S3Server:
    exe = binaries.find("weed")
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    admin, writer = random_credentials("admin"), random_credentials("writer")
    config = workdir / "s3.json"
    config.touch(mode=0o600)
    config.write_text(json.dumps(s3_config(admin, writer), indent=1))
    (workdir / "master.toml").write_text(MASTER_TOML)  # read from the working directory

    ports = {
        name: free_port()
        for name in ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3", "s3.grpc")
    }
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    argv: list[str | Path] = [
        exe,
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={ports['master.grpc']}",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=256",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={ports['volume.grpc']}",
        "-volume.max=0",
        "-volume.preStopSeconds=0",
        "-filer",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={ports['filer.grpc']}",
        "-s3",
        f"-s3.port={ports['s3']}",
        f"-s3.port.grpc={ports['s3.grpc']}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        "-s3.allowDeleteBucketNotEmpty=false",
        "-s3.autoCreateBucket=false",
    ]
    proc = process.start("seaweedfs", argv, workdir / "weed.log", cwd=workdir)
    server = S3Server(
        kind="seaweedfs",
        endpoint=endpoint,
        region=REGION,
        bucket=DEFAULT_BUCKET,
        admin=admin,
        writer=writer,
        workdir=workdir,
        processes=[proc],
        # Its filer waits 15 s for the S3 gateway's metadata stream to close: not worth waiting for.
        stop_timeout=STOP_TIMEOUT,
    )
    try:
        process.wait_until(
            lambda: is_listening(ports["s3"]),
            what=f"seaweedfs S3 at {endpoint}",
            process=proc,
            timeout=timeout,
        )
        # The S3 gateway answers before the filer and volume server are ready: wait for an admin call.
        process.wait_until(
            lambda: s3_request(endpoint, admin, "GET", "/", timeout=2.0)[0] == 200,
            what=f"seaweedfs S3 ListBuckets at {endpoint}",
            process=proc,
            timeout=timeout,
        )
        retry_until(lambda: server.create_bucket(DEFAULT_BUCKET), process=proc, timeout=timeout)
    except BaseException:
        proc.stop(STOP_TIMEOUT)
        raise
    server.leftovers = [
        sock for port in ports.values() for sock in SOCKET_DIR.glob(f"seaweedfs-*-{port}.sock")
    ]
    return server
