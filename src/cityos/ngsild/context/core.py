"""The NGSI-LD Core @context (ETSI GS CIM 009 V1.8.1, annex B and §5.5.7).

The Core @context shipped with this package is the ETSI-published document
https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld, stored verbatim (content as
published; line endings normalised to LF) in ``ngsi-ld-core-context-v1.8.jsonld`` next to this
module. It is read once through ``importlib.resources`` and never fetched over the network.

Clients still reference older publications of the Core @context (v1.0 ``...core-context.jsonld``
and v1.3 to v1.8 ``...core-context-v1.N.jsonld``); all of them are served by the shipped one, as
every version is a superset of the previous ones for the terms an NGSI-LD broker relies on.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

#: The canonical URL of the Core @context this package implements.
CORE_CONTEXT_URL = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"

#: The default vocabulary: unknown terms expand below it (ETSI GS CIM 009 §5.5.7, annex B).
DEFAULT_CONTEXT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"

#: The namespace of the NGSI-LD core vocabulary ("ngsi-ld:" prefix).
NGSI_LD_NAMESPACE = "https://uri.etsi.org/ngsi-ld/"

CORE_CONTEXT_FILE = "ngsi-ld-core-context-v1.8.jsonld"

_CORE_URL_RE = re.compile(
    r"^https?://uri\.etsi\.org/ngsi-ld/v1/ngsi-ld-core-context(?:-v1\.\d+(?:\.\d+)?)?\.jsonld$")


def is_core_context_url(url: str) -> bool:
    """True when `url` names any published version of the NGSI-LD Core @context."""
    return _CORE_URL_RE.match(url) is not None


@cache
def _core_text() -> str:
    return resources.files(__package__).joinpath(CORE_CONTEXT_FILE).read_text(encoding="utf-8")


def core_document() -> dict[str, Any]:
    """A fresh copy of the Core @context document ({"@context": {...}})."""
    document: dict[str, Any] = json.loads(_core_text())
    return document


@cache
def core_context_value() -> dict[str, Any]:
    """The (shared, read-only by convention) value of the Core document's "@context" member."""
    value: dict[str, Any] = core_document()["@context"]
    return value
