"""`drkit restore etcd`: a new etcd member's data directory from a cluster snapshot (docs/etcd-restore.md)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from drkit.cli.options import output_option
from drkit.cli.output import emit
from drkit.cli.repoopts import RepoOptions, repo_options
from drkit.cli.restore import restore

log = logging.getLogger("drkit.cli.restore")


@restore.command("etcd")
@click.argument("ref", metavar="SNAPSHOT")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The new member's data directory (must not exist, or be empty).",
)
@click.option("--name", required=True, help="The member's name (one of --initial-cluster).")
@click.option(
    "--initial-cluster",
    required=True,
    metavar="NAME=URL[,NAME=URL...]",
    help="Every member of the restored cluster and its peer URL.",
)
@click.option(
    "--initial-advertise-peer-urls", required=True, metavar="URL", help="This member's peer URL(s)."
)
@click.option(
    "--initial-cluster-token",
    default=None,
    help="The new cluster's token (default: a new random one; give every member the same).",
)
@click.option(
    "--bump-revision",
    type=click.IntRange(min=0),
    default=1_000_000_000,
    show_default=True,
    help="Raise the revision by this much and mark it compacted, so watches and resourceVersions never go "
    "backwards (0: neither).",
)
@click.option(
    "--verify/--no-verify",
    default=None,
    help="Prove the snapshot's HashKV on a temporary etcd started from a copy (default: when etcd is found).",
)
@click.option(
    "--client-urls",
    default=None,
    metavar="URL",
    help="Client URL(s) for the printed command (default: peer host:2379).",
)
@click.option("--etcdutl", default="etcdutl", show_default=True, help="The etcdutl binary.")
@click.option(
    "--etcd",
    "etcd_binary",
    default="etcd",
    show_default=True,
    help="The etcd binary (verification, command).",
)
@repo_options
@output_option
def restore_etcd_command(
    ref: str,
    data_dir: Path,
    name: str,
    initial_cluster: str,
    initial_advertise_peer_urls: str,
    initial_cluster_token: str | None,
    bump_revision: int,
    verify: bool | None,
    client_urls: str | None,
    etcdutl: str,
    etcd_binary: str,
    repo: RepoOptions,
    output: str,
) -> None:
    """Restore the etcd snapshot of cluster SNAPSHOT (an id, a unique prefix or 'latest') into a new data
    directory, print the command that starts the member and what must go with it."""
    from drkit.restore.etcd import EtcdRestoreRequest, format_command, restore_etcd

    request = EtcdRestoreRequest(
        data_dir=data_dir,
        name=name,
        initial_cluster=initial_cluster,
        initial_advertise_peer_urls=initial_advertise_peer_urls,
        initial_cluster_token=initial_cluster_token,
        bump_revision=bump_revision,
        verify=verify,
        client_urls=client_urls,
        etcdutl=etcdutl,
        etcd=etcd_binary,
    )
    reader = repo.open().snapshot_reader(ref)
    result = restore_etcd(reader, request, notify=lambda msg: log.info("%s", msg))
    v = result.verification
    lines = [
        f"restored etcd of snapshot {reader.snapshot.short_id} into {result.data_dir}",
        f"  revision {result.snapshot_revision} + {result.bump_revision} = {result.restored_revision}"
        + (" (marked compacted)" if result.bump_revision else ""),
        f"  member {result.name}, cluster token {result.initial_cluster_token}",
        f"  {'verified: ' if v.verified else ''}{v.detail}",
        "",
        "start the member with:",
        "  " + format_command(result.command),
        "",
        "what must go with it (not in etcd, not in this snapshot):",
        *(f"  - {r}" for r in result.reminders),
    ]
    lines += [f"note: {n}" for n in result.notes]
    emit(result.to_json(), output, text="\n".join(lines))
