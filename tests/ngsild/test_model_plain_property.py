"""The fast path for `{"type": "Property", "value": <scalar>}` (attributes._plain_property)
must give what the general parse gives, in every mode, for every input it takes or leaves."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from cityos.ngsild.context import core_context
from cityos.ngsild.errors import NgsiLdError
from cityos.ngsild.model import attributes
from cityos.ngsild.model.attributes import Mode, parse_instance

CTX = core_context()
RAWS: list[Any] = [
    {"type": "Property", "value": 5}, {"type": "Property", "value": 5.5},
    {"type": "Property", "value": True}, {"type": "Property", "value": "text"},
    {"type": "Property", "value": ""}, {"type": "Property", "value": "urn:ngsi-ld:null"},
    {"type": "Property", "value": None}, {"type": "Property", "value": [1, 2]},
    {"type": "Property", "value": {"a": 1}}, {"type": "Property", "object": "urn:x:1"},
    {"type": "Property", "value": 5, "observedAt": "2026-01-01T00:00:00Z"},
    {"type": "Property", "value": 5, "unitCode": "C62"}, {"type": "Property"},
    {"type": "Relationship", "value": 5}, {"value": 5, "unitCode": "C62"},
    {"type": "Property", "createdAt": "2026-01-01T00:00:00Z"}, 5, "text",
]


def _outcome(raw: Any, mode: Mode) -> Any:
    try:
        return parse_instance(raw, CTX, mode=mode)
    except NgsiLdError as error:
        return type(error), str(error)


@pytest.mark.parametrize("mode", get_args(Mode))
@pytest.mark.parametrize("raw", RAWS, ids=repr)
def test_fast_path_agrees_with_the_general_parse(raw: Any, mode: Mode,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _outcome(raw, mode)
    monkeypatch.setattr(attributes, "_plain_property", lambda raw: None)
    assert fast == _outcome(raw, mode)


def test_fast_path_takes_the_plain_property() -> None:
    assert attributes._plain_property({"type": "Property", "value": 7}) == \
        {"type": "Property", "value": 7}
    assert attributes._plain_property({"type": "Property", "value": "urn:ngsi-ld:null"}) \
        is None
