"""pydantic's errors in drkit's words: file, line, dotted field, "did you mean", and one message for the
members of a union."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from drkit.config.checkdoc import CHECK_MODELS, Check, check_type
from drkit.config.translate import validate_node
from drkit.config.yamlsource import load_yaml_text
from drkit.errors import ConfigError

ADAPTER: TypeAdapter[Check] = TypeAdapter(Check)


def error(text: str) -> ConfigError:
    node = load_yaml_text(text, "plan.yaml")
    kind = check_type(node.plain())
    assert kind is not None
    with pytest.raises(ConfigError) as caught:
        validate_node(ADAPTER, node, file="plan.yaml", path="checks[0]", model=CHECK_MODELS[kind], skip=1)
    return caught.value


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        ("exists:\n  kind: A\n  nmae: b\n", 3, "checks[0].exists.nmae", "did you mean 'name'"),
        ("exists:\n  kind: A\n", 1, "checks[0].exists.name", "missing required field"),
        ("exists: ~\n", 1, "checks[0].exists", "a value is required, got null"),
        ("count: {kind: A, min: '5'}\n", 1, "checks[0].count.min", "expected a whole number, got string '5'"),
        ("count: {kind: A, min: true}\n", 1, "checks[0].count.min", "whole number, got boolean true"),
        ("count:\n  kind: A\n  min: -2\n", 3, "checks[0].count.min", "must be at least 0"),
        ("exists: {kind: 5, name: b}\n", 1, "checks[0].exists.kind", "expected a string, got integer 5"),
        ("exists: {kind: '  ', name: b}\n", 1, "checks[0].exists.kind", "expected a non-empty string"),
        ("command: {run: [ls, '']}\n", 1, "checks[0].command.run[1]", "non-empty string, got string ''"),
        ("command: {run: {a: b}}\n", 1, "checks[0].command.run", "expected a command: a string (run by sh)"),
        ("httpProbe: {namespace: a, service: b, port: 8.5}\n", 1,
         "checks[0].httpProbe.port", "expected a port"),
        ("command: {run: ls}\ntimeout: [1]\n", 2, "checks[0].timeout", "expected a duration"),
    ],
)  # fmt: skip
def test_errors_name_line_and_field_in_drkits_words(text: str, line: int, field: str, message: str) -> None:
    err = error(text)
    assert (err.file, err.line, err.field) == ("plan.yaml", line, field)
    assert message in str(err)


def test_an_environment_reference_is_refused_with_the_loaders_hint() -> None:
    err = error("exists: {kind: A, name: '${NAME}'}\n")
    assert err.field == "checks[0].exists.name"
    assert "looks like an environment-variable reference" in str(err)
    assert err.hint == "write the value itself; keep secrets in files (passwordFile, keyFile)"


def test_a_command_may_mention_a_variable() -> None:
    node = load_yaml_text("command: {run: 'echo $KUBECONFIG'}\n", "plan.yaml")
    item = validate_node(
        ADAPTER, node, file="plan.yaml", path="checks[0]", model=CHECK_MODELS["command"], skip=1
    )
    assert item.command.run == "echo $KUBECONFIG"  # type: ignore[union-attr]


def test_the_check_union_is_discriminated_by_the_one_type_key() -> None:
    assert check_type({"exists": {}, "name": "x"}) == "exists"
    assert check_type({"exists": {}, "count": {}}) is None
    assert check_type({"name": "x"}) is None
    item = ADAPTER.validate_python({"count": {"kind": "Pod", "min": 1}, "timeout": "2m"}, strict=True)
    assert type(item).__name__ == "CountCheck"


def test_python_names_are_not_keys() -> None:
    """The models' snake_case attribute names are not accepted in place of the camelCase keys."""
    from drkit.config.scheduledoc import Retention

    node = load_yaml_text("keep_daily: 7\n", "s.yaml")
    with pytest.raises(ConfigError) as caught:
        validate_node(TypeAdapter(Retention), node, file="s.yaml", path="spec.retention", model=Retention)
    assert caught.value.field == "spec.retention.keep_daily"
    assert "did you mean 'keepDaily'?" in caught.value.message
