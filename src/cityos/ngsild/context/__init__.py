"""JSON-LD @context handling for NGSI-LD (ETSI GS CIM 009 §5.5.7, annex B).

@contexts are compiled once into term <-> IRI maps (:class:`CompiledContext`); the Core
@context ships with the package and is never fetched.
"""

from cityos.ngsild.context.compiled import CompiledContext, compile_context, core_context
from cityos.ngsild.context.core import (
    CORE_CONTEXT_URL,
    DEFAULT_CONTEXT_VOCAB,
    core_document,
    is_core_context_url,
)
from cityos.ngsild.context.terms import TermDefinition

__all__ = [
    "CORE_CONTEXT_URL",
    "DEFAULT_CONTEXT_VOCAB",
    "CompiledContext",
    "TermDefinition",
    "compile_context",
    "core_context",
    "core_document",
    "is_core_context_url",
]
