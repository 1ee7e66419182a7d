"""The benchmark harness (bench/): deterministic datasets, the mutation and its undo, report formatting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import capture_memory, dataset, measure, s3, write_cost
from bench.incremental import Sample, conditions
from bench.report import Report, Result
from bench.setaside import SETTLE, SetAside
from bench.tools import Command, Restic, Tool

SCALE = 0.0005  # a few MiB: the smallest sizes the generator allows


def test_mixed_tree_is_the_same_bytes_and_mtimes_every_time(tmp_path: Path) -> None:
    a = dataset.ensure_mixed(tmp_path / "a", SCALE)
    b = dataset.ensure_mixed(tmp_path / "b", SCALE)
    assert a == b
    assert dataset.tree_digest(tmp_path / "a") == dataset.tree_digest(tmp_path / "b")
    kinds = {s.kind for s in a}
    assert kinds == {"text", "random", "copy"}
    files, size = dataset.tree_stats(tmp_path / "a")
    assert files == len(a)
    assert size == sum(s.size for s in a)
    copy = next(s for s in a if s.kind == "copy")
    assert (tmp_path / "a" / copy.path).read_bytes() == (tmp_path / "a" / copy.source).read_bytes()


def test_mutation_changes_about_one_percent_and_ensure_undoes_it(tmp_path: Path) -> None:
    root = tmp_path / "mixed"
    specs = dataset.ensure_mixed(root, SCALE)
    before = dataset.tree_digest(root)
    total = sum(s.size for s in specs)
    changed = dataset.mutate(root, specs)
    assert 0.005 * total <= changed <= 0.03 * total
    assert dataset.tree_digest(root) != before
    assert (root / "added" / "new-00.bin").exists()
    dataset.ensure_mixed(root, SCALE)
    assert dataset.tree_digest(root) == before
    assert not (root / "added").exists()


def test_small_tree_is_deterministic_and_scaled(tmp_path: Path) -> None:
    n = dataset.ensure_small(tmp_path / "a", 0.001)
    dataset.ensure_small(tmp_path / "b", 0.001)
    assert n == 200
    assert dataset.tree_stats(tmp_path / "a")[0] == 200
    assert dataset.tree_digest(tmp_path / "a") == dataset.tree_digest(tmp_path / "b")
    assert dataset.small_count(1.0) == 200_000


def test_full_scale_mixed_tree_is_about_two_gib() -> None:
    total = sum(s.size for s in dataset.mixed_specs(1.0))
    assert 1.8 * 2**30 <= total <= 2.2 * 2**30


def _report() -> Report:
    r = Report(meta={"started": "2026-01-01T00:00:00Z", "command": "python -m bench --scale 0.1"})
    r.results += [
        Result("mixed: first backup", "drkit", 5.0, 8.0, 200 * 1024, ok=True, repo_bytes=100 * 2**20),
        Result("mixed: first backup", "kopia", 10.0, 12.0, 300 * 1024, ok=True),
        Result("mixed: restore", "drkit", 4.0, 3.0, 150 * 1024, ok=False, note="restored tree differs"),
        Result("mixed: restore", "kopia", 2.0, 2.5, 120 * 1024, ok=True),
        Result("small files: first backup", "drkit", 30.0, 28.0, 90 * 1024, ok=True),
    ]
    r.skipped["borg"] = "not installed"
    return r


def test_report_ratios_are_to_kopia_in_the_same_phase() -> None:
    r = _report()
    assert r.ratio(r.results[0]) == 0.5
    assert r.ratio(r.results[1]) == 1.0
    assert r.ratio(r.results[2]) is None  # a failed step has no ratio
    assert r.ratio(r.results[4]) is None  # kopia did not run this phase


def test_report_markdown_pivots_phases_by_tool() -> None:
    md = _report().to_markdown()
    assert "| phase | drkit | kopia |" in md
    assert "| mixed: first backup | 5.0 s (0.50x) | 10.0 s (1.00x) |" in md
    assert "| mixed: restore | FAILED (restored tree differs) | 2.0 s (1.00x) |" in md
    assert "| small files: first backup | 30.0 s | - |" in md
    assert "| mixed: first backup | 200 | 300 |" in md  # peak RSS in MiB
    assert "- borg: not installed" in md


def test_report_json_and_files(tmp_path: Path) -> None:
    md_path, json_path = _report().write(tmp_path, "bench-x")
    body = json.loads(json_path.read_text())
    assert body["results"][0]["ratio_to_kopia"] == 0.5
    assert body["skipped"] == {"borg": "not installed"}
    assert md_path.read_text().startswith("# drkit bench, 2026-01-01T00:00:00Z")
    assert (tmp_path / "latest.md").read_text() == md_path.read_text()


def test_restic_restores_under_the_absolute_source_path(tmp_path: Path) -> None:
    tool = Restic("restic", Path("/bin/true"), tmp_path / "w")
    assert tool.restored_root(Path("/data/src"), tmp_path / "t") == tmp_path / "t" / "data" / "src"


def test_combined_runs_report_the_median_and_keep_every_sample() -> None:
    runs = []
    for wall in (9.0, 3.0, 5.0):
        r = Report(meta={"started": "x"})
        r.results.append(Result("mixed: first backup", "drkit", wall, wall / 2, int(wall * 1024), ok=True))
        r.results.append(Result("mixed: first backup", "kopia", 10.0, 1.0, 1024, ok=wall != 3.0, note="n"))
        runs.append(r)
    merged = Report.combine(runs)
    drkit, kopia = merged.results
    assert drkit.seconds == 5.0
    assert drkit.samples == (9.0, 3.0, 5.0)
    assert drkit.max_rss_kib == 9 * 1024  # the worst peak, not the median
    assert not kopia.ok  # one failed run fails the cell
    assert merged.meta["repetitions"] == 3
    assert "| mixed: first backup | 9.0 / 3.0 / 5.0 | 10.0 / 10.0 / 10.0 |" in merged.to_markdown()


def test_peak_rss_is_the_childs_own_not_the_harness_peak(tmp_path: Path) -> None:
    """A /bin/true started from a big parent reports its own few MiB (wait4 from the parent reports the
    parent's peak: execve folds the replaced copy of the parent's address space into ru_maxrss)."""
    ballast = bytearray(256 * 2**20)
    for i in range(0, len(ballast), 4096):  # touch every page: resident, not just reserved
        ballast[i] = 1
    m = measure.run(Command(["/bin/true"]), tmp_path / "true.log")
    assert m.ok
    assert 0 < m.max_rss_kib < 32 * 1024, m.max_rss_kib
    assert len(ballast) == 256 * 2**20  # the ballast stayed alive (and resident) during the run


def test_peak_rss_of_a_child_that_allocates_is_measured(tmp_path: Path) -> None:
    script = "b = bytearray(96 * 2**20)\nfor i in range(0, len(b), 4096): b[i] = 1\n"
    m = measure.run(Command([sys.executable, "-c", script]), tmp_path / "alloc.log")
    assert m.ok
    assert 96 * 1024 <= m.max_rss_kib < 200 * 1024, m.max_rss_kib


def test_a_failing_child_keeps_its_exit_code(tmp_path: Path) -> None:
    m = measure.run(Command(["/bin/false"]), tmp_path / "false.log")
    assert m.returncode == 1
    assert not m.ok


def test_capture_memory_deletes_the_repository_it_made(tmp_path: Path) -> None:
    result = capture_memory.measure(300, 2, None, tmp_path)
    assert result["files"] == 301  # the objects and capture/resources.json
    assert result["max_rss_mib"] > 0
    assert list(tmp_path.iterdir()) == []


def test_capture_memory_deletes_the_repository_of_a_failing_child(tmp_path: Path) -> None:
    child = (
        "import pathlib, sys, tempfile\n"
        "repo = pathlib.Path(tempfile.mkdtemp(dir=sys.argv[3])) / 'data'\n"
        "repo.mkdir()\n"
        "(repo / 'pack').write_bytes(bytes(4096))\n"
        "sys.exit(3)\n"
    )
    with pytest.raises(subprocess.CalledProcessError) as failed:
        capture_memory.measure(1, 1, None, tmp_path, child=child)
    assert failed.value.returncode == 3
    assert list(tmp_path.iterdir()) == []


def _origin(tmp_path: Path) -> Path:
    origin = tmp_path / "origin"
    for i in range(300):
        p = origin / f"pkg{i % 7}" / f"sub{i % 3}" / f"mod{i:03d}.py"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"x = {i}\n" * (i % 11 + 1))
    (origin / "pkg0" / "link.py").symlink_to("sub0/mod000.py")  # left out: only regular files
    return origin


def test_source_tree_copies_regular_files_and_scales(tmp_path: Path) -> None:
    origin = _origin(tmp_path)
    assert dataset.ensure_source(tmp_path / "full", 1.0, [origin]) == 300
    assert dataset.tree_stats(tmp_path / "full")[0] == 300
    assert not (tmp_path / "full" / "0-origin" / "pkg0" / "link.py").exists()
    src = origin / "pkg3" / "sub1" / "mod010.py"
    copy = tmp_path / "full" / "0-origin" / "pkg3" / "sub1" / "mod010.py"
    assert copy.read_bytes() == src.read_bytes()
    assert copy.stat().st_mtime_ns == src.stat().st_mtime_ns  # a real tree's own mtimes
    assert dataset.ensure_source(tmp_path / "half", 0.5, [origin]) == 150


def test_source_mutation_changes_one_percent_of_files_and_ensure_undoes_it(tmp_path: Path) -> None:
    origin = _origin(tmp_path)
    root = tmp_path / "src"
    dataset.ensure_source(root, 1.0, [origin])
    before = dataset.tree_digest(root)
    assert dataset.mutate_source(root) == 3  # 1% of 300
    assert dataset.tree_digest(root) != before
    assert dataset.ensure_source(root, 1.0, [origin]) == 300
    assert dataset.tree_digest(root) == before


def test_cpu_probe_times_the_same_work_each_time() -> None:
    """The probe is this thread's CPU time for fixed work: positive, and of the same order when
    repeated (the machine's speed, which drifts on a shared host, not a constant)."""
    first, second = measure.cpu_probe(), measure.cpu_probe()
    assert first > 0
    assert second > 0
    assert 0.25 < first / second < 4, (first, second)


def test_host_steal_reads_the_cpu_line_of_proc_stat(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 9000 10 0 5 250 0 0\ncpu0 50 0 25 4500 5 0 2 125 0 0\n")
    real_open = open

    def fake_open(path: str, *args: object, **kwargs: object) -> object:
        return real_open(stat if path == "/proc/stat" else path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr("builtins.open", fake_open)
    assert measure.host_steal() == 250 / os.sysconf("SC_CLK_TCK")
    stat.write_text("intr 1 2 3\n")  # no cpu line (another kernel): nothing counted
    assert measure.host_steal() == 0.0


def test_a_measurement_carries_the_probe_and_the_steal_of_its_step(tmp_path: Path) -> None:
    m = measure.run(Command(["/bin/true"]), tmp_path / "true.log")
    assert m.probe_ms > 0
    assert m.steal_seconds >= 0


def test_reports_say_what_the_machine_was_like() -> None:
    samples = [
        Sample("drkit", 0, 5.0, 8.0, 1024, True, 0.5, 0.0, probe_ms=80.0, steal_seconds=0.5),
        Sample("kopia", 0, 6.0, 9.0, 1024, True, 1.5, 2.0, probe_ms=120.0, steal_seconds=1.0),
    ]
    lines = conditions(samples)
    assert lines["load_before"].startswith("0.5-1.5 ")
    assert lines["cpu_probe"].startswith("80-120 ms ")
    assert lines["steal"].startswith("1.5 s over all the steps, at most 1.0 s in one")
    r = Report(meta={"started": "x"})
    r.results.append(
        Result("mixed: first backup", "drkit", 5.0, 8.0, 1024, True, probe_ms=81.4, steal_seconds=0.25)
    )
    assert "| mixed: first backup | 81 / 0.2 |" in r.to_markdown()


def test_write_cost_writes_both_ways_idle_and_busy_and_leaves_nothing(tmp_path: Path) -> None:
    results = tmp_path / "results"
    args = ["--mib", "32", "--repeat", "1", "--dir", str(tmp_path / "w"), "--results", str(results)]
    assert write_cost.main(args) == 0
    assert not (tmp_path / "w").exists()  # the files written are gone
    (report,) = results.glob("write-cost-*.json")
    rows = json.loads(report.read_text())["rows"]
    assert {(r["way"], r["cpus"]) for r in rows} == {
        (w, c) for w in write_cost.WAYS for c in ("idle", "busy")
    }
    assert all(r["seconds"] > 0 and r["steal_seconds"] >= 0 for r in rows)
    md = report.with_suffix(".md").read_text()
    assert "| direct, fsync each | busy |" in md
    assert "| page cache, then sync | idle |" in md


def test_write_cost_spinners_are_stopped(tmp_path: Path) -> None:
    row = write_cost.measure(tmp_path / "w", 16, write_cost.WAYS[0], busy=True)
    assert row.cpus == "busy"
    assert row.mib == 16
    own = subprocess.run(
        ["pgrep", "-f", "^.*-c while True: pass$"], capture_output=True, text=True, check=False
    )
    assert own.stdout.strip() == ""


def test_restored_trees_are_set_aside_until_emptied(tmp_path: Path) -> None:
    waited: list[float] = []
    aside = SetAside(tmp_path / "set-aside", keep_free=0, sleep=waited.append)
    for name in ("drkit", "kopia"):
        tree = tmp_path / "restore" / name
        (tree / "sub").mkdir(parents=True)
        (tree / "sub" / "f").write_bytes(b"restored")
        assert aside.put(tree) is True
        assert not tree.exists()
    again = tmp_path / "restore" / "drkit"  # the same name a second run: set aside beside the first
    again.mkdir()
    assert aside.put(again) is True
    kept = sorted(p.name for p in (tmp_path / "set-aside").iterdir())
    assert kept == ["0-drkit", "1-kopia", "2-drkit"]
    assert (tmp_path / "set-aside" / "1-kopia" / "sub" / "f").read_bytes() == b"restored"
    assert aside.put(tmp_path / "restore" / "absent") is True
    aside.empty(settle=True)
    assert not (tmp_path / "set-aside").exists()
    assert len(waited) == 1  # the deletions written out, then ext4's window for freed inodes waited
    assert SETTLE - 5 < waited[0] <= SETTLE
    assert aside.deleted_at_once == 0


def test_a_bench_waits_for_the_deletions_of_one_that_just_ended(tmp_path: Path) -> None:
    ended = SetAside(tmp_path / "set-aside", keep_free=0)
    (tmp_path / "set-aside" / "0-drkit").mkdir(parents=True)
    ended.empty(settle=False)  # the end of a bench: its trees deleted, no wait
    waited: list[float] = []
    SetAside(tmp_path / "set-aside", sleep=waited.append).empty(settle=True)  # the next bench's start
    assert len(waited) == 1
    assert SETTLE - 5 < waited[0] <= SETTLE
    (tmp_path / "set-aside.emptied").write_text(f"{time.time() - SETTLE - 1:.3f}\n")  # long ago
    SetAside(tmp_path / "set-aside", sleep=waited.append).empty(settle=True)
    assert len(waited) == 1
    fresh = tmp_path / "fresh"  # nothing ever deleted there: no wait
    SetAside(fresh / "set-aside", sleep=waited.append).empty(settle=True)
    assert len(waited) == 1


def test_a_tree_is_deleted_at_once_when_the_disk_is_short_of_room(tmp_path: Path) -> None:
    aside = SetAside(tmp_path / "set-aside", keep_free=2**62)  # never enough room: every tree goes now
    tree = tmp_path / "restore" / "drkit"
    tree.mkdir(parents=True)
    (tree / "f").write_bytes(b"x")
    assert aside.put(tree) is False
    assert not tree.exists()
    assert not (tmp_path / "set-aside").exists()
    assert aside.deleted_at_once == 1


def _s3_tools(tmp_path: Path) -> list[Tool]:
    bucket = s3.Bucket("http://127.0.0.1:9", "bench-drkit", "AKIDEXAMPLE", "not-a-real-secret")
    tools: list[Tool] = []
    for name, cls in s3.CLASSES.items():
        tool = cls(name, Path("/bin/true"), tmp_path / name)
        tool.bucket = bucket  # type: ignore[attr-defined]
        tools.append(tool)
    return tools


def test_s3_tools_point_at_the_bucket_with_the_credentials_in_their_environment(tmp_path: Path) -> None:
    drkit, kopia, restic = _s3_tools(tmp_path)
    init = drkit.init()
    assert "s3://bench-drkit/repo?endpoint=http://127.0.0.1:9" in init.argv
    assert init.argv[-4:] == ["--lock-mode", "governance", "--retention", "1d"]
    assert init.env["AWS_ACCESS_KEY_ID"] == "AKIDEXAMPLE"
    assert drkit.restore(tmp_path, "x", tmp_path / "t").env["AWS_SECRET_ACCESS_KEY"] == "not-a-real-secret"
    assert restic.env()["RESTIC_REPOSITORY"] == "s3:http://127.0.0.1:9/bench-drkit/repo"
    assert restic.env()["AWS_ACCESS_KEY_ID"] == "AKIDEXAMPLE"
    argv = kopia.init().argv
    assert argv[1:4] == ["repository", "create", "s3"]
    assert argv[argv.index("--endpoint") + 1] == "127.0.0.1:9"
    assert "--disable-tls" in argv
    assert s3.bucket_name("drkit@d23b717c7") == "bench-drkit-d23b717c7"


def test_s3_report_has_each_step_with_the_servers_cpu_and_the_ratio_to_kopia(tmp_path: Path) -> None:
    tools = _s3_tools(tmp_path)

    def step(tool: str, kind: str, i: int, seconds: float) -> s3.Step:
        return s3.Step(tool, kind, i, seconds, seconds / 2, 100 << 10, 0.25, True, 0.5, 44.0, 0.0)

    steps = [step("kopia", "restore", i, 4.0 + i) for i in range(3)]
    steps += [step("drkit", "restore", i, 2.0 + i) for i in range(3)]
    steps += [step("drkit", "backup", 0, 9.0), step("kopia", "backup", 0, 3.0)]
    rows = s3.summarise(steps, tools, "backup") + s3.summarise(steps, tools, "restore")
    by = {(r["step"], r["tool"]): r for r in rows}
    assert by["restore", "drkit"]["ratio_to_kopia"] == pytest.approx(3.0 / 5.0)
    assert by["backup", "drkit"]["ratio_to_kopia"] == pytest.approx(3.0)
    assert by["restore", "restic"] == {"tool": "restic", "step": "restore", "ok": False}
    md = s3.to_markdown({"started": "now", "dataset": "mixed"}, rows)
    assert "| restore | drkit | 3.00 s | 0.60x | 1.50 s | 0.25 s | 100 MiB | 2.0 / 3.0 / 4.0 |" in md
    assert "| restore | restic | FAILED |" in md


def test_s3_bench_reads_a_processes_cpu_time_from_proc() -> None:
    start = s3.server_cpu(os.getpid())
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    assert s3.server_cpu(os.getpid()) >= start + 0.03
