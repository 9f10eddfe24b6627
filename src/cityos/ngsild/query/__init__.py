"""The NGSI-LD query languages (ETSI GS CIM 009 V1.8.1): q (clause 4.9), scopeQ (4.19),
entity type expressions (4.17), attribute projection lists (4.21) and V1.9 ordering (4.23).

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
    Linked,
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
    linked_depth,
    q_attributes,
)
from cityos.ngsild.query.evaluate import evaluate_q, evaluate_scope_q, evaluate_types
from cityos.ngsild.query.order import (
    Ordering,
    OrderKey,
    check_collation,
    parse_order_by,
    root_collation,
)
from cityos.ngsild.query.parser import (
    attr_path_of,
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
    "Linked",
    "Op",
    "Or",
    "OrderKey",
    "Ordering",
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
    "attr_path_of",
    "check_collation",
    "evaluate_q",
    "evaluate_scope_q",
    "evaluate_types",
    "linked_depth",
    "parse_attribute_list",
    "parse_order_by",
    "parse_q",
    "parse_scope_q",
    "parse_type_expression",
    "q_attributes",
    "root_collation",
]
