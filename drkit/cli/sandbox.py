"""`drkit sandbox`: a local control plane (and MinIO) to try drkit without a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from drkit.cli.options import output_option
from drkit.cli.output import emit, render_table

DIR_HELP = "Where the sandbox keeps its files and state."


def _dir_option(func: Any) -> Any:
    return click.option(
        "--dir",
        "directory",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path(".sandbox"),
        show_default=True,
        envvar="DRKIT_SANDBOX_DIR",
        help=DIR_HELP + " Env: DRKIT_SANDBOX_DIR.",
    )(func)


@click.group()
def sandbox() -> None:
    """Start, inspect and stop a local sandbox cluster.

    The sandbox is etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (fake
    nodes whose pods become Running) on 127.0.0.1, plus MinIO as Object Lock S3 storage. With
    --real-nodes (root), real nodes (containerd + kubelet) run containers from locally built images
    (`make image`), claims are provisioned, and the API server and MinIO listen on the pod network's
    gateway so that pods reach them. The processes keep running after `up` returns; `down` stops them.
    """


@sandbox.command()
@_dir_option
@click.option("--nodes", type=click.IntRange(0, 100), default=1, show_default=True, help="Fake (kwok) nodes.")
@click.option(
    "--real-nodes",
    type=click.IntRange(0, 8),
    default=0,
    show_default=True,
    help="Real nodes (containerd + kubelet; needs root and `make image`).",
)
@click.option(
    "--image",
    "images",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="An OCI image archive to import into the real nodes (repeatable; default: `make image`'s).",
)
@click.option("--no-s3", is_flag=True, help="Do not start MinIO.")
def up(directory: Path, nodes: int, real_nodes: int, images: tuple[Path, ...], no_s3: bool) -> None:
    """Start the sandbox (or say that it already runs)."""
    from drkit.sandbox import session

    result = session.up(directory, nodes=nodes, s3=not no_s3, real_nodes=real_nodes, images=images)
    state = result.state
    dead = [c.name for c in state.components if not c.alive()]
    if result.already_running and dead:
        click.echo(
            f"The sandbox in {state.directory} is already up, but not all of it runs: {', '.join(dead)} "
            "stopped (see their logs with `drkit sandbox status -o json`; restart with "
            "`drkit sandbox down` and `drkit sandbox up`)."
        )
    elif result.already_running:
        click.echo(f"The sandbox in {state.directory} is already up (see `drkit sandbox status`).")
    else:
        real = len(state.real_nodes)
        kinds = f"{len(state.nodes) - real} kwok node(s)" + (f", {real} real node(s)" if real else "")
        click.echo(f"Sandbox up in {result.seconds:.1f}s: {kinds}, API server {state.server}")
    for note in result.notes:
        click.echo(f"Note: {note}")
    click.echo(f"Kubeconfig: {state.kubeconfig}")
    click.echo(f"  export KUBECONFIG={state.kubeconfig}; kubectl get nodes")
    if state.s3 is not None:
        click.echo(
            f"S3: {state.s3.endpoint} (region {state.s3.region}, Object Lock bucket {state.s3.bucket})"
        )
        click.echo(f"  credentials in {state.s3.credentials_file} (mode 0600)")
    click.echo(f"Stop it with: drkit sandbox down --dir {state.directory}")


def _rows(directory: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from drkit.sandbox import session

    state = session.status(directory)
    if state is None:
        return {"directory": str(directory.resolve()), "up": False, "components": []}, []
    rows = [
        {"name": c.name, "pid": c.pid, "alive": c.alive(), "endpoint": c.endpoint, "log": c.log}
        for c in state.components
    ]
    doc: dict[str, Any] = {
        "directory": state.directory,
        "up": all(r["alive"] for r in rows),
        "started_at": state.started_at,
        "kubeconfig": state.kubeconfig,
        "server": state.server,
        "nodes": state.nodes,
        "node_kinds": {
            "real": [n["name"] for n in state.real_nodes],
            "kwok": [n for n in state.nodes if n not in {r["name"] for r in state.real_nodes}],
        },
        "components": rows,
        "s3": None
        if state.s3 is None
        else {
            "endpoint": state.s3.endpoint,
            # pods on real nodes reach MinIO at the same address; kwok nodes run no containers
            "endpoint_in_cluster": state.s3.endpoint if state.real_nodes else None,
            "region": state.s3.region,
            "bucket": state.s3.bucket,
            "credentials_file": state.s3.credentials_file,
        },
    }
    return doc, rows


@sandbox.command()
@_dir_option
@output_option
def status(directory: Path, output: str) -> None:
    """Each component's pid, whether it runs, and where it listens."""
    doc, rows = _rows(directory)
    if not rows:
        text = f"No sandbox in {doc['directory']} (start one with `drkit sandbox up`)."
    else:
        table = render_table(rows, ["name", "pid", "alive", "endpoint"])
        text = f"{table}\n\nKubeconfig: {doc['kubeconfig']}"
    emit(doc, output, text=text)


@sandbox.command()
@_dir_option
@click.option("--purge", is_flag=True, help="Also delete the sandbox directory (its data, keys and logs).")
def down(directory: Path, purge: bool) -> None:
    """Stop every sandbox process (nothing to do is fine)."""
    from drkit.sandbox import session

    stopped = session.down(directory, purge=purge)
    if stopped:
        for c in stopped:
            click.echo(f"Stopped {c.name} (pid {c.pid})")
    else:
        click.echo(f"Nothing was running in {directory.resolve()}.")
    if purge:
        click.echo(f"Removed {directory.resolve()}.")
