"""The NGSI-LD query languages (ETSI GS CIM 009 V1.8.1): q (clause 4.9), scopeQ (4.19),
entity type expressions (4.17) and attribute projection lists (4.21).

Parsers turn request strings into frozen ASTs holding expanded IRIs; `evaluate_*` decide
them against entities in the internal form; cityos.storage.sqlite.query_sql compiles the
same ASTs to SQL.
"""

from cityos.ngsild.query.ast import (
    And,
    AttrPath,
    AttrSelector,
    Comparison,
    DateTimeValue,
    Existence,
    Op,
    Or,
    QNode,
    QueryValue,
    Scalar,
    ScopeAnd,
    ScopeNode,
    ScopeOr,
    ScopePattern,
    TypeAnd,
    TypeName,
    TypeNode,
    TypeOr,
    ValueList,
    ValueRange,
)
from cityos.ngsild.query.evaluate import evaluate_q, evaluate_scope_q, evaluate_types
from cityos.ngsild.query.parser import (
    parse_attribute_list,
    parse_q,
    parse_scope_q,
    parse_type_expression,
)

__all__ = [
    "And",
    "AttrPath",
    "AttrSelector",
    "Comparison",
    "DateTimeValue",
    "Existence",
    "Op",
    "Or",
    "QNode",
    "QueryValue",
    "Scalar",
    "ScopeAnd",
    "ScopeNode",
    "ScopeOr",
    "ScopePattern",
    "TypeAnd",
    "TypeName",
    "TypeNode",
    "TypeOr",
    "ValueList",
    "ValueRange",
    "evaluate_q",
    "evaluate_scope_q",
    "evaluate_types",
    "parse_attribute_list",
    "parse_q",
    "parse_scope_q",
    "parse_type_expression",
]
