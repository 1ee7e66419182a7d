"""The JSON Schemas of drkit's file formats, generated from the document models.

``drkit schema schedule`` and ``drkit schema restore-plan`` print them; ``docs/schemas/`` holds the
committed copies that editors point at (a test keeps them equal to what :func:`json_schema` makes).
A schema checks a document's shape (keys, types, enumerations); the loaders check its meaning too, so
``drkit validate`` is the final word.
"""

from __future__ import annotations

import json
from typing import Any

from drkit.config.model import Model
from drkit.config.plandoc import RestorePlanDocument
from drkit.config.scheduledoc import ScheduleDocument

DOCUMENTS: dict[str, type[Model]] = {"schedule": ScheduleDocument, "restore-plan": RestorePlanDocument}
"""Each published schema by name, and the model it is generated from."""

BASE_URL = "https://drkit.io/schemas/v1/"


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the document kind ``name`` (a key of :data:`DOCUMENTS`)."""
    schema = DOCUMENTS[name].model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{BASE_URL}{name}.schema.json",
        **schema,
    }


def json_schema_text(name: str) -> str:
    """:func:`json_schema` as the text of its file: sorted keys, two-space indent, a final newline."""
    return json.dumps(json_schema(name), indent=2, sort_keys=True) + "\n"
