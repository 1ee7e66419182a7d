"""Backup to and restore from S3: every tool against the same MinIO on loopback.

    python -m bench.s3 [--rounds 3] [--tools drkit,kopia,restic] [--drkit-ref A --drkit-ref B]
                       [--dataset mixed|source] [--scale 1]

The other benches write local repositories; a cluster's backups live in an S3 bucket with Object Lock,
and the day they are needed the restore reads them back over the network. This starts one MinIO
(``drkit.sandbox.minio``, the binary of ``make testbin``) on loopback with its data on the same disk,
gives every tool a bucket of its own (Object Lock enabled, so versioned, for all of them alike), backs
the tree up once with each tool (timed: one sample each, in the order given) and then restores the
newest snapshot ``--rounds`` times per tool into a fresh directory (timed; the order rotates each
round), checking every restore against the source (untimed). Before each restore the tool's local cache
is removed (a restore after a disaster starts on a machine without one: kopia would otherwise read its
second restore from the contents its first one cached) and MinIO's data files are read once, so that
the server serves every restore from the page cache. drkit's repository is created with
``--lock-mode governance --retention 1d``: each of its objects is put with a retain-until date, as a
user's are; kopia and restic put plain objects.

``--link 10ms,100`` puts ``bench/slowlink`` (``hack/bench-tools.sh slowlink``) between the tools and
MinIO: every byte arrives 10 ms after it was sent, each way, and each connection carries at most
100 MB/s each way, roughly one connection to a cloud object store in the same region. Loopback alone
has neither, so it shows only the CPU's part of a restore; the link shows whether a tool keeps enough
requests in flight.

Beside each tool's wall time, CPU time and peak RSS it reports MinIO's CPU time during the step
(``/proc/<pid>/stat``): the server shares the two cores with the tool, and a tool that asks for more
(smaller objects, more requests) pays for it in its own wall time.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import dataset
from bench.incremental import conditions_line
from bench.measure import Measurement, NoGnuTime, gnu_time, run
from bench.run import machine
from bench.setaside import SetAside
from bench.tools import Command, Drkit, Kopia, Restic, Tool, export_drkit, find_binary


@dataclass(frozen=True)
class Bucket:
    endpoint: str  # http://127.0.0.1:PORT
    name: str
    access_key: str
    secret_key: str

    def aws_env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
        }


class DrkitS3(Drkit):
    bucket: Bucket

    def _repo_args(self) -> list[str]:
        url = f"s3://{self.bucket.name}/repo?endpoint={self.bucket.endpoint}"
        return ["--repo", url, "--password-file", str(self.password_file)]

    def init(self) -> Command:
        return self._cmd("repo", "init", *self._repo_args(), "--lock-mode", "governance", "--retention", "1d")

    def _cmd(self, *args: str, cwd: Path | None = None) -> Command:
        cmd = super()._cmd(*args, cwd=cwd)
        return Command(cmd.argv, {**cmd.env, **self.bucket.aws_env()}, cmd.cwd)


class ResticS3(Restic):
    bucket: Bucket

    def env(self) -> dict[str, str]:
        return {
            **super().env(),
            **self.bucket.aws_env(),
            "RESTIC_REPOSITORY": f"s3:{self.bucket.endpoint}/{self.bucket.name}/repo",
        }


class KopiaS3(Kopia):
    bucket: Bucket

    def init(self) -> Command:
        host = self.bucket.endpoint.removeprefix("http://")
        return self._cmd(
            "repository",
            "create",
            "s3",
            "--bucket",
            self.bucket.name,
            "--prefix",
            "repo/",
            "--endpoint",
            host,
            "--disable-tls",
            "--access-key",
            self.bucket.access_key,
            "--secret-access-key",
            self.bucket.secret_key,
        )


CLASSES: dict[str, type[Tool]] = {"drkit": DrkitS3, "kopia": KopiaS3, "restic": ResticS3}


@dataclass(frozen=True)
class Step:
    tool: str
    step: str  # "backup" | "restore"
    round: int
    seconds: float
    cpu_seconds: float
    max_rss_kib: int
    server_cpu_seconds: float
    ok: bool
    load_before: float
    probe_ms: float
    steal_seconds: float


def server_cpu(pid: int) -> float:
    """User + system CPU seconds a process has used so far (``/proc/<pid>/stat`` fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_tools(root: Path, names: list[str], refs: list[str], work: Path) -> list[Tool]:
    tools: list[Tool] = []
    for name in names:
        if name not in CLASSES:
            raise SystemExit(f"{name}: not measured against S3 here (one of {', '.join(CLASSES)})")
        binary = find_binary(name, root)
        if binary is None:
            raise SystemExit(f"{name} is not installed (hack/bench-tools.sh {name}, or make venv)")
        if name == "drkit":
            for ref in refs or ["HEAD"]:
                source, commit = export_drkit(root, ref)
                label = f"drkit@{commit[:9]}" if len(refs) > 1 else "drkit"
                tool = DrkitS3(label, binary, work / label)
                tool.source, tool.commit = source, commit
                tools.append(tool)
        else:
            tools.append(CLASSES[name](name, binary, work / name))
    return tools


def start_link(root: Path, upstream: str, spec: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``slowlink`` in front of ``upstream`` (http://host:port); returns it and its endpoint."""
    delay, _, rate = spec.partition(",")
    binary = root / ".bench" / "tools" / "bin" / "slowlink"
    if not binary.exists():
        raise SystemExit("slowlink is not built (hack/bench-tools.sh slowlink)")
    argv = [str(binary), "-to", upstream.removeprefix("http://"), "-delay", delay, "-rate", rate or "0"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    if not address:
        proc.kill()
        raise SystemExit(f"slowlink did not start: {shlex.join(argv)}")
    return proc, f"http://{address}"


def bucket_name(tool: str) -> str:
    return "bench-" + "".join(c if c.isalnum() else "-" for c in tool.lower())


def summarise(steps: list[Step], tools: list[Tool], step: str) -> list[dict[str, object]]:
    mine_all = [s for s in steps if s.step == step]
    base = [s.seconds for s in mine_all if s.tool == "kopia" and s.ok]
    base_median = statistics.median(base) if base else None
    rows: list[dict[str, object]] = []
    for t in tools:
        mine = [s for s in mine_all if s.tool == t.name and s.ok]
        if not mine:
            rows.append({"tool": t.name, "step": step, "ok": False})
            continue
        wall = statistics.median(s.seconds for s in mine)
        rows.append(
            {
                "tool": t.name,
                "step": step,
                "ok": len(mine) == len([s for s in mine_all if s.tool == t.name]),
                "wall_median": wall,
                "ratio_to_kopia": wall / base_median if base_median else None,
                "cpu_median": statistics.median(s.cpu_seconds for s in mine),
                "server_cpu_median": statistics.median(s.server_cpu_seconds for s in mine),
                "rss_max_mib": max(s.max_rss_kib for s in mine) / 1024,
                "walls": [round(s.seconds, 2) for s in mine],
            }
        )
    return rows


def to_markdown(meta: dict[str, object], rows: list[dict[str, object]]) -> str:
    lines = [f"# drkit bench: backup to and restore from S3 (MinIO on loopback), {meta['started']}", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items() if k != "started"]
    lines += [
        "",
        "| step | tool | wall, median | ratio to kopia | CPU, median | MinIO's CPU, median "
        "| peak RSS (largest) | every round's wall, s |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if not r.get("wall_median"):
            lines.append(f"| {r['step']} | {r['tool']} | FAILED | | | | | |")
            continue
        ratio = r["ratio_to_kopia"]
        lines.append(
            f"| {r['step']} | {r['tool']} | {r['wall_median']:.2f} s | {f'{ratio:.2f}x' if ratio else '-'} | "
            f"{r['cpu_median']:.2f} s | {r['server_cpu_median']:.2f} s | {r['rss_max_mib']:.0f} MiB | "
            + " / ".join(f"{w:.1f}" for w in r["walls"])  # type: ignore[attr-defined]
            + (" |" if r["ok"] else " (some rounds failed) |")
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.s3", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tools", default="drkit,kopia,restic")
    parser.add_argument("--drkit-ref", action="append", default=[], help="a drkit commit (repeatable)")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--dataset", choices=("mixed", "source"), default="mixed")
    parser.add_argument("--root", type=Path, default=Path.cwd())
    parser.add_argument(
        "--link", default="", help="DELAY,MBPS: a one-way delay (10ms) and a rate per connection (100 MB/s)"
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        gnu_time()
    except NoGnuTime as e:
        print(e, file=sys.stderr)
        return 2
    root: Path = args.root.resolve()
    (root / ".bench").mkdir(parents=True, exist_ok=True)
    with (root / ".bench" / ".lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"another bench run holds {lock.name}", file=sys.stderr)
            return 2
        return _run(root, args)


def _run(root: Path, args: argparse.Namespace) -> int:
    from drkit.sandbox import minio  # the bench's own imports stay light when S3 is not measured

    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    source = root / ".bench" / "data" / f"{args.dataset}-{args.scale:g}"
    work = root / ".bench" / "work" / "s3"
    aside = SetAside(root / ".bench" / "work" / "set-aside")
    aside.empty(settle=True)  # what an earlier bench deleted is past before this one's restores
    shutil.rmtree(work, ignore_errors=True)
    if args.dataset == "mixed":
        files = len(dataset.ensure_mixed(source, args.scale))
    else:
        files = dataset.ensure_source(source, args.scale)
    tools = make_tools(root, [t.strip() for t in args.tools.split(",") if t.strip()], args.drkit_ref, work)
    server = minio.start(work / "minio")
    link: subprocess.Popen[str] | None = None
    try:
        endpoint = server.endpoint
        if args.link:
            link, endpoint = start_link(root, server.endpoint, args.link)
        for t in tools:
            name = bucket_name(t.name)
            server.create_bucket(name)
            key, secret = server.admin.access_key, str(server.admin.secret_key.reveal())
            t.bucket = Bucket(endpoint, name, key, secret)  # type: ignore[attr-defined]
        meta: dict[str, object] = {
            "started": started,
            "command": shlex.join(["python", "-m", "bench.s3", *sys.argv[1:]]),
            "machine": machine(),
            "dataset": f"{args.dataset} tree at scale {args.scale:g}: {files} files",
            "server": f"MinIO on {server.endpoint}, data in {work / 'minio' / 'data'} (the same disk)",
            "link": f"bench/slowlink on {endpoint}: {args.link}"
            if link
            else "loopback, no delay, no rate limit",
            "versions": "; ".join(f"{t.name}: {t.version()}" for t in tools),
        }
        steps = _measure(tools, source, work, rounds=args.rounds, server_pid=server.pids()[0], aside=aside)
    finally:
        if link is not None:
            link.kill()
            link.wait()
        server.stop()
    if steps is None:
        return 1
    meta["finished"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta["trees deleted between steps for want of room"] = aside.deleted_at_once
    rows = summarise(steps, tools, "backup") + summarise(steps, tools, "restore")
    out = root / ".bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stem = "s3-" + started.replace(":", "")
    md = to_markdown(meta, rows)
    (out / f"{stem}.md").write_text(md)
    body = {"meta": meta, "summary": rows, "steps": [asdict(s) for s in steps]}
    (out / f"{stem}.json").write_text(json.dumps(body, indent=2))
    print(md)
    print(f"results: {out / stem}.md and .json")
    aside.empty(settle=False)
    shutil.rmtree(work, ignore_errors=True)
    return 0 if all(s.ok for s in steps) else 1


def _timed(t: Tool, step: str, i: int, cmd: Command, *, log: Path, server_pid: int) -> Step:
    dataset.settle()  # no earlier step's writes left to land in this one
    before = server_cpu(server_pid)
    m: Measurement = run(cmd, log)
    s = Step(
        t.name,
        step,
        i,
        m.seconds,
        m.cpu_seconds,
        m.max_rss_kib,
        server_cpu(server_pid) - before,
        m.ok,
        m.load_before,
        m.probe_ms,
        m.steal_seconds,
    )
    print(
        f"{step} {i + 1}: {t.name} {m.seconds:.2f} s (cpu {m.cpu_seconds:.2f} s, MinIO "
        f"{s.server_cpu_seconds:.2f} s, {m.max_rss_kib // 1024} MiB, {conditions_line(m)})",
        flush=True,
    )
    return s


def _measure(
    tools: list[Tool], source: Path, work: Path, *, rounds: int, server_pid: int, aside: SetAside
) -> list[Step] | None:
    """One timed first backup per tool, then ``rounds`` timed restores each (checked against the source)."""
    logs = work.parent.parent / "logs" / "s3"
    expected = dataset.tree_digest(source)
    steps: list[Step] = []
    for t in tools:
        t.prepare()
        log = logs / f"{t.name}.log"
        if not run(t.init(), log).ok:
            print(f"{t.name}: init failed, see {log}", file=sys.stderr)
            return None
        dataset.warm(source)
        steps.append(_timed(t, "backup", 0, t.backup(source, "s3-first"), log=log, server_pid=server_pid))
    for i in range(rounds):
        for t in tools[i % len(tools) :] + tools[: i % len(tools)]:
            target = work / "restored" / f"{t.name}-{i}"
            # The day a restore is needed it runs on a new machine: no local cache of the repository
            # (kopia keeps the contents it read in its cache and would read the next restore from it).
            shutil.rmtree(t.work / "cache", ignore_errors=True)
            dataset.warm(work / "minio" / "data")  # the server's objects in the page cache alike for all
            cmd = t.restore(source, "s3-first", target)
            s = _timed(t, "restore", i, cmd, log=logs / f"{t.name}.log", server_pid=server_pid)
            if s.ok and dataset.tree_digest(t.restored_root(source, target)) != expected:
                print(f"{t.name}: restore {i + 1} differs from the source", file=sys.stderr)
                s = Step(**{**asdict(s), "ok": False})
            steps.append(s)
            aside.put(target)
    return steps


if __name__ == "__main__":
    sys.exit(main())
