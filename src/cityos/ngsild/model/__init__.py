"""The NGSI-LD information model (ETSI GS CIM 009 §4.5): parsing, merging and rendering.

Entities are held in one internal form, independent of the request's @context:
attribute names and types are expanded IRIs, every attribute is a list of instances (one per
datasetId), sub-attributes are a dict of single instances. See docs/architecture.md.
"""

from cityos.ngsild.model.entity import parse_entity, parse_fragment
from cityos.ngsild.model.terms import TermMapper

__all__ = ["TermMapper", "parse_entity", "parse_fragment"]
