"""The @context of EvacuationShelter, served at /shelters/context.jsonld.

Terms map to the IRIs the broker stores them under: the NGSI-LD core @context's default
vocabulary (so clients using only the core @context and clients using this one see the
same attributes), `status` to the core's own term. The Smart Data Models names
peopleCapacity / peopleOccupancy / name / alternateName / address / category are reused as
terms; docs/shelters.md lists the Smart Data Models attribute each corresponds to."""

from __future__ import annotations

import json
from functools import cache

CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
TERMS = ("EvacuationShelter", "name", "alternateName", "address", "category", "shelterKind",
         "peopleCapacity", "peopleOccupancy", "crowdingLevel", "crowdingLevelSource",
         "hazardTypes", "accessibility", "petsAllowed", "gsiCommonId",
         "emergencySiteCommonId", "source", "notes", "responsibleStaff", "updatedBy")


@cache
def context_bytes() -> bytes:
    terms = {term: DEFAULT_VOCAB + term for term in TERMS}
    document = {"@context": [terms, CORE_CONTEXT]}
    return json.dumps(document, indent=1).encode()
