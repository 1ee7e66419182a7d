"""Every kind of bad schedule file gives a ConfigError naming the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from drkit.config.schedule import load_schedule
from drkit.errors import ConfigError, ExitCode


def doc(extra: str = "", *, cron: str = '"0 2 * * *"', url: str = "s3://bucket/prefix") -> str:
    """A valid schedule; ``extra`` lines go at the end of ``spec`` and start on line 9."""
    return (
        "apiVersion: drkit.io/v1\n"  # 1
        "kind: Schedule\n"  # 2
        "metadata:\n"  # 3
        "  name: test\n"  # 4
        "spec:\n"  # 5
        f"  cron: {cron}\n"  # 6
        "  repository:\n"  # 7
        f"    url: {url}\n" + extra  # 8
    )


# (id, file text, line, field, part of the message)
CASES: list[tuple[str, str, int | None, str | None, str]] = [
    # the file as a whole
    ("empty file", "", None, None, "the file is empty"),
    ("only comments", "# nothing\n", None, None, "the file is empty"),
    ("yaml syntax", doc("  tags: [a, b\n"), 10, None, "YAML syntax error"),
    ("unquoted star cron", doc(cron="*/5 * * * *"), 6, None, "YAML syntax error"),
    ("tab indentation", doc("  tags:\n\t- a\n"), 10, None, "YAML syntax error"),
    ("duplicate key", doc('  cron: "0 3 * * *"\n'), 9, None, "duplicate key 'cron' (first given on line 6)"),
    (
        "duplicate nested key",
        doc("  retention:\n    keepLast: 1\n    keepLast: 2\n"),
        11,
        None,
        "duplicate key",
    ),
    ("two documents", doc() + "---\nkind: Schedule\n", 10, None, "2 YAML documents"),
    ("not a mapping", "- a\n- b\n", 1, None, "expected a mapping, got list"),
    ("non-string key", doc("  1: x\n"), 9, None, "mapping keys must be strings"),
    ("control character", doc("  tags: [\x07]\n"), 9, None, "control character U+0007"),
    # header and metadata
    ("flat layout", "cron: '0 2 * * *'\n", 1, "cron", "belongs under spec"),
    ("unknown top-level key", "apiVersion: drkit.io/v1\nkin: Schedule\n", 2, "kin", "did you mean 'kind'?"),
    (
        "wrong apiVersion",
        doc().replace("drkit.io/v1", "drkit.io/v2"),
        1,
        "apiVersion",
        "expected 'drkit.io/v1'",
    ),
    ("wrong kind", doc().replace("kind: Schedule", "kind: Backup"), 2, "kind", "expected 'Schedule'"),
    (
        "missing apiVersion",
        doc().replace("apiVersion: drkit.io/v1\n", "# none\n"),
        2,
        "apiVersion",
        "missing",
    ),
    ("missing metadata", doc().replace("metadata:\n  name: test\n", "\n\n"), 1, "metadata", "missing"),
    (
        "missing name",
        doc().replace("  name: test\n", "  {}\n").replace("metadata:\n  {}", "metadata: {}\n"),
        3,
        "metadata.name",
        "missing required field",
    ),
    ("bad name", doc().replace("name: test", "name: Nightly_1"), 4, "metadata.name", "not a valid name"),
    (
        "name too long",
        doc().replace("name: test", "name: " + "a" * 64),
        4,
        "metadata.name",
        "not a valid name",
    ),
    ("name not a string", doc().replace("name: test", "name: 42"), 4, "metadata.name", "got integer 42"),
    (
        "unknown metadata key",
        doc().replace("  name: test\n", "  name: test\n  labels: {}\n"),
        5,
        "metadata.labels",
        "unknown field 'labels'",
    ),
    # spec: keys, cron, time zone, jitter
    ("missing spec", doc().split("spec:")[0], 1, "spec", "missing required field"),
    ("spec null", doc().split("spec:")[0] + "spec:\n", 5, "spec", "a value is required, got null"),
    (
        "unknown spec key",
        doc("  retension:\n    keepDaily: 1\n"),
        9,
        "spec.retension",
        "did you mean 'retention'?",
    ),
    (
        "snake_case key",
        doc("  retention:\n    keep_daily: 7\n"),
        10,
        "spec.retention.keep_daily",
        "did you mean 'keepDaily'?",
    ),
    ("missing cron", doc().replace('  cron: "0 2 * * *"\n', ""), 5, "spec.cron", "missing required field"),
    (
        "cron value out of range",
        doc(cron='"61 2 * * *"'),
        6,
        "spec.cron",
        "higher than the maximum value (59)",
    ),
    ("cron four fields", doc(cron='"0 2 * *"'), 6, "spec.cron", "expected 5 fields"),
    ("cron six fields", doc(cron='"0 0 2 * * *"'), 6, "spec.cron", "expected 5 fields"),
    ("cron bad word", doc(cron='"0 2 * * funday"'), 6, "spec.cron", "invalid cron expression"),
    ("cron numeric weekday", doc(cron='"0 2 * * 1-5"'), 6, "spec.cron", "APScheduler counts 0 as Monday"),
    ("cron day and weekday", doc(cron='"0 2 1 * mon"'), 6, "spec.cron", "both day of month and day of week"),
    ("cron unknown macro", doc(cron="'@reboot'"), 6, "spec.cron", "unknown macro"),
    ("cron not a string", doc(cron="5"), 6, "spec.cron", "expected a string, got integer 5"),
    ("cron empty", doc(cron='""'), 6, "spec.cron", "non-empty"),
    (
        "unknown time zone",
        doc("  timezone: Europe/Berln\n"),
        9,
        "spec.timezone",
        "did you mean 'Europe/Berlin'?",
    ),
    ("time zone path", doc("  timezone: ../../etc/passwd\n"), 9, "spec.timezone", "unknown time zone"),
    ("bad jitter", doc("  jitter: 5x\n"), 9, "spec.jitter", "invalid duration '5x'"),
    ("jitter as list", doc("  jitter: [1]\n"), 9, "spec.jitter", "expected a duration"),
    # repository
    (
        "missing repository",
        doc().replace("  repository:\n    url: s3://bucket/prefix\n", ""),
        5,
        "spec.repository",
        "missing required field",
    ),
    (
        "missing url",
        doc(url="x").replace("    url: x\n", "    passwordFile: pw\n"),
        7,
        "spec.repository.url",
        "missing required field",
    ),
    ("bad bucket", doc(url="s3://B_b/x"), 8, "spec.repository.url", "not a valid bucket name"),
    ("credentials in url", doc(url="s3://key:secret@bucket/x"), 8, "spec.repository.url", "credentials"),
    ("unsupported scheme", doc(url="ftp://host/x"), 8, "spec.repository.url", "unsupported scheme"),
    (
        "s3 for a local repo",
        doc("    s3:\n      region: eu-west-1\n", url="/backups"),
        10,
        "spec.repository.s3",
        "S3 settings given for a local repository",
    ),
    (
        "bad s3 endpoint",
        doc("    s3:\n      endpoint: minio:9000\n"),
        10,
        "spec.repository.s3.endpoint",
        "is not http(s)://host[:port]",
    ),
    (
        "s3 path style not bool",
        doc("    s3:\n      pathStyle: maybe\n"),
        10,
        "spec.repository.s3.pathStyle",
        "expected true or false",
    ),
    ("unknown s3 key", doc("    s3:\n      bucket: x\n"), 10, "spec.repository.s3.bucket", "unknown field"),
    (
        "env reference",
        doc("    passwordFile: ${HOME}/pw\n"),
        9,
        "spec.repository.passwordFile",
        "environment-variable reference",
    ),
    ("env reference bare", doc(url="$REPO"), 8, "spec.repository.url", "environment-variable reference"),
    # kube, etcd
    ("context a boolean", doc("  kube:\n    context: yes\n"), 10, "spec.kube.context", "got boolean true"),
    ("kube not a mapping", doc("  kube: prod\n"), 9, "spec.kube", "expected a mapping, got string 'prod'"),
    ("etcd without endpoints", doc("  etcd:\n    kubeadm: true\n"), 9, "spec.etcd.endpoints", "missing"),
    ("etcd empty endpoints", doc("  etcd:\n    endpoints: []\n"), 10, "spec.etcd.endpoints", "at least one"),
    (
        "etcd endpoint not a url",
        doc("  etcd:\n    endpoints:\n      - https://a:2379\n      - b:2379\n"),
        12,
        "spec.etcd.endpoints[1]",
        "not an http(s):// URL",
    ),
    (
        "etcd endpoints a string",
        doc("  etcd:\n    endpoints: https://a:2379\n"),
        10,
        "spec.etcd.endpoints",
        "expected a list of strings",
    ),
    (
        "kubeadm and caFile",
        doc("  etcd:\n    endpoints: [https://a:2379]\n    kubeadm: true\n    caFile: ca.crt\n"),
        12,
        "spec.etcd.caFile",
        "kubeadm: true already chooses",
    ),
    (
        "cert without key",
        doc("  etcd:\n    endpoints: [https://a:2379]\n    certFile: c.crt\n"),
        11,
        "spec.etcd.keyFile",
        "go together",
    ),
    (
        "key without cert",
        doc("  etcd:\n    endpoints: [https://a:2379]\n    keyFile: c.key\n"),
        11,
        "spec.etcd.certFile",
        "go together",
    ),
    (
        "kubeadm not bool",
        doc("  etcd:\n    endpoints: [https://a:2379]\n    kubeadm: 1\n"),
        11,
        "spec.etcd.kubeadm",
        "expected true or false, got integer 1",
    ),
    # resources, volumes, tags
    (
        "cluster resources",
        doc("  resources:\n    includeClusterResources: some\n"),
        10,
        "spec.resources.includeClusterResources",
        "expected auto, true or false",
    ),
    (
        "namespace item",
        doc("  resources:\n    includeNamespaces: [a, 3]\n"),
        10,
        "spec.resources.includeNamespaces[1]",
        "expected a string, got integer 3",
    ),
    (
        "enabled not bool",
        doc("  resources:\n    enabled: 'no'\n"),
        10,
        "spec.resources.enabled",
        "true or false",
    ),
    ("volumes shorthand", doc("  volumes: all\n"), 9, "spec.volumes", "expected a mapping"),
    ("volume mode number", doc("  volumes:\n    mode: 3\n"), 10, "spec.volumes.mode", "expected a string"),
    ("tags a string", doc("  tags: nightly\n"), 9, "spec.tags", "expected a list of strings"),
    ("tag the norway problem", doc("  tags: [prod, no]\n"), 9, "spec.tags[1]", "got boolean false"),
    ("empty tag", doc("  tags: [prod, '']\n"), 9, "spec.tags[1]", "non-empty"),
    # retention
    (
        "negative count",
        doc("  retention:\n    keepDaily: -3\n"),
        10,
        "spec.retention.keepDaily",
        "cannot be negative",
    ),
    (
        "count a word",
        doc("  retention:\n    keepWeekly: seven\n"),
        10,
        "spec.retention.keepWeekly",
        "expected a count or 'unlimited'",
    ),
    (
        "count a float",
        doc("  retention:\n    keepLast: 1.5\n"),
        10,
        "spec.retention.keepLast",
        "expected a count",
    ),
    (
        "count a bool",
        doc("  retention:\n    keepLast: true\n"),
        10,
        "spec.retention.keepLast",
        "expected a count",
    ),
    (
        "keepWithin months",
        doc("  retention:\n    keepWithin: 2M\n"),
        10,
        "spec.retention.keepWithin",
        "months",
    ),
    (
        "keepWithin negative",
        doc("  retention:\n    keepWithin: -5\n"),
        10,
        "spec.retention.keepWithin",
        "negative",
    ),
    (
        "keepTags item",
        doc("  retention:\n    keepTags: [[a]]\n"),
        10,
        "spec.retention.keepTags[0]",
        "expected a string, got list",
    ),
    # lock
    (
        "lock mode",
        doc("  lock:\n    mode: legal-hold\n"),
        10,
        "spec.lock.mode",
        "expected compliance or governance",
    ),
    (
        "lock mode none",
        doc("  lock:\n    mode: none\n"),
        10,
        "spec.lock.mode",
        "expected compliance or governance",
    ),
    ("lock period", doc("  lock:\n    period: forever\n"), 10, "spec.lock.period", "invalid duration"),
    ("lock period zero", doc("  lock:\n    period: 0d\n"), 10, "spec.lock.period", "at least 1d"),
    # verify, drill
    ("verify without cron", doc("  verify:\n    readDataPercent: 5\n"), 9, "spec.verify.cron", "missing"),
    ("verify bad cron", doc("  verify:\n    cron: '0 25 * * *'\n"), 10, "spec.verify.cron", "invalid cron"),
    (
        "percent too high",
        doc("  verify:\n    cron: '0 3 * * *'\n    readDataPercent: 150\n"),
        11,
        "spec.verify.readDataPercent",
        "from 0 to 100, got 150",
    ),
    (
        "percent negative",
        doc("  verify:\n    cron: '0 3 * * *'\n    readDataPercent: -1\n"),
        11,
        "spec.verify.readDataPercent",
        "from 0 to 100",
    ),
    (
        "percent nan",
        doc("  verify:\n    cron: '0 3 * * *'\n    readDataPercent: .nan\n"),
        11,
        "spec.verify.readDataPercent",
        "from 0 to 100",
    ),
    (
        "percent text",
        doc("  verify:\n    cron: '0 3 * * *'\n    readDataPercent: ten%\n"),
        11,
        "spec.verify.readDataPercent",
        "expected a percentage",
    ),
    ("drill without plan", doc("  drill:\n    cron: '0 3 1 * *'\n"), 9, "spec.drill.plan", "missing"),
    (
        "drill bad cron",
        doc("  drill:\n    cron: '0 3 1 * 0'\n    plan: p.yaml\n"),
        10,
        "spec.drill.cron",
        "numeric",
    ),
    (
        "drill unknown key",
        doc("  drill:\n    cron: '0 3 1 * *'\n    plan: p.yaml\n    plans: q\n"),
        12,
        "spec.drill.plans",
        "did you mean 'plan'?",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_error_names_file_line_and_field(
    tmp_path: Path, text: str, line: int | None, field: str | None, message: str
) -> None:
    path = tmp_path / "schedule.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_schedule(path)
    error = info.value
    assert error.file == str(path)
    assert (error.line, error.field) == (line, field), str(error)
    assert message in str(error)
    assert error.exit_code is ExitCode.USAGE
    where = str(path) if line is None else f"{path}:{line}"
    assert str(error).startswith(where)


def test_the_base_document_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "schedule.yaml"
    path.write_text(doc(), encoding="utf-8")
    assert load_schedule(path).name == "test"


def test_unquoted_star_gets_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(doc(cron="*/5 * * * *"), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_schedule(path)
    assert info.value.hint is not None
    assert "quoted" in info.value.hint


def test_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(doc().encode() + b"  tags: [caf\xe9]\n")
    with pytest.raises(ConfigError) as info:
        load_schedule(path)
    assert (info.value.file, info.value.line) == (str(path), 9)
    assert "not UTF-8" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as info:
        load_schedule(path)
    assert (info.value.file, info.value.line) == (str(path), None)
    assert "no such file" in str(info.value)
