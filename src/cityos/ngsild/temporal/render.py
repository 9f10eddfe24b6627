"""Temporal representations of an entity (ETSI GS CIM 009 §4.5.7 normalized, §4.5.9
simplified — `temporalValues` —, §4.5.19 aggregated), compacted with the request's
@context.

Input is a temporal entity in the internal form: `{"id", "type": [IRIs], "attrs":
{IRI: [instances]}}` where each instance carries instanceId, createdAt, modifiedAt and,
when known, observedAt and deletedAt; optionally `"kinds": {IRI: attribute type}`, the
kind of attributes whose instances were all cut away. Aggregated input carries `"aggregates": {IRI:
[AggregatedSeries]}` instead of instances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from cityos.ngsild.model.attributes import KIND_VALUE_MEMBER
from cityos.ngsild.model.render import RenderOptions, pick_language, render_instance
from cityos.ngsild.model.terms import TermMapper
from cityos.ngsild.temporal.diff import SCOPE_IRI
from cityos.ngsild.temporal.times import format_micros
from cityos.ngsild.types import JsonObject

TemporalForm = Literal["normalized", "temporalValues", "aggregatedValues"]
# §4.5.9: the member holding the [value, time] pairs, by attribute kind.
SIMPLIFIED_MEMBER = {"Property": "values", "GeoProperty": "values",
                     "Relationship": "objects", "LanguageProperty": "languageMaps",
                     "VocabProperty": "vocabs", "JsonProperty": "jsons",
                     "ListProperty": "valueLists", "ListRelationship": "objectLists"}
# §4.5.9: these kinds keep their value wrapped in an object naming the value member.
WRAPPED = frozenset({"LanguageProperty", "VocabProperty", "JsonProperty"})


@dataclass(frozen=True)
class AggregatedSeries:
    """One attribute instance series (one datasetId) aggregated per period:
    method → [(value, period start µs, period end µs)]."""

    kind: str
    dataset_id: str | None
    values: dict[str, list[tuple[Any, int, int]]] = field(default_factory=dict)


@dataclass(frozen=True)
class TemporalRenderOptions:
    form: TemporalForm = "normalized"
    sys_attrs: bool = False
    lang: str | None = None
    timeproperty: str = "observedAt"
    members: frozenset[str] | None = None  # pick of id / type (None: all)
    omit: frozenset[str] = frozenset()


def _entity_members(entity: JsonObject, ctx: TermMapper,
                    opts: TemporalRenderOptions) -> JsonObject:
    out: JsonObject = {}
    wanted = opts.members
    if (wanted is None or "id" in wanted) and "id" not in opts.omit:
        out["id"] = entity["id"]
    if (wanted is None or "type" in wanted) and "type" not in opts.omit:
        types = [ctx.compact_iri(t) for t in entity["type"]]
        out["type"] = types[0] if len(types) == 1 else types
    if opts.sys_attrs and "createdAt" in entity:
        out["createdAt"] = entity["createdAt"]
        out["modifiedAt"] = entity.get("modifiedAt", entity["createdAt"])
    return out


def _name(iri: str, ctx: TermMapper) -> str:
    return "scope" if iri == SCOPE_IRI else ctx.compact_iri(iri)


def render_temporal_entity(entity: JsonObject, ctx: TermMapper,
                           opts: TemporalRenderOptions) -> JsonObject:
    """§4.5.7 / §4.5.9 / §4.5.19: one entity's temporal representation."""
    out = _entity_members(entity, ctx, opts)
    if opts.form == "aggregatedValues":
        for iri, series in entity.get("aggregates", {}).items():
            rendered = [_aggregated(s) for s in series]
            out[_name(iri, ctx)] = rendered[0] if len(rendered) == 1 else rendered
        return out
    for iri, instances in entity["attrs"].items():
        if opts.form == "temporalValues" and not instances:
            # every instance cut away by pagination (§6.3.10): an empty series still
            # tells the client the attribute has data beyond the range
            kind = entity.get("kinds", {}).get(iri, "Property")
            out[_name(iri, ctx)] = {"type": kind, SIMPLIFIED_MEMBER.get(kind, "values"): []}
        elif opts.form == "temporalValues":
            out[_name(iri, ctx)] = _simplified(instances, ctx, opts)
        else:
            out[_name(iri, ctx)] = [_normalized(i, ctx, opts) for i in instances]
    return out


def _normalized(instance: JsonObject, ctx: TermMapper,
                opts: TemporalRenderOptions) -> JsonObject:
    base = RenderOptions(sys_attrs=opts.sys_attrs, lang=opts.lang)
    if "deletedAt" in instance:  # a deletion: its NULL value is rendered as stored
        kind = instance["type"]
        member = KIND_VALUE_MEMBER.get(kind, "value")
        out: JsonObject = {"type": kind, member: instance[member]}
        if "datasetId" in instance:
            out["datasetId"] = instance["datasetId"]
    else:
        out = render_instance(instance, ctx, base)
    out["instanceId"] = instance["instanceId"]
    if "deletedAt" in instance:
        out["deletedAt"] = instance["deletedAt"]
    if opts.sys_attrs:
        out["createdAt"] = instance["createdAt"]
        out["modifiedAt"] = instance["modifiedAt"]
    return out


def _pair_value(instance: JsonObject, ctx: TermMapper, opts: TemporalRenderOptions) -> Any:
    kind = instance["type"]
    value: Any = instance.get(KIND_VALUE_MEMBER.get(kind, "value"))
    if "deletedAt" in instance:
        return {"languageMap": value} if kind == "LanguageProperty" else value
    if kind == "LanguageProperty" and opts.lang is not None:
        return pick_language(value, opts.lang)[1]
    if kind == "VocabProperty":
        value = [ctx.compact_vocab_value(v) for v in value] if isinstance(value, list) \
            else ctx.compact_vocab_value(value)
    if kind in WRAPPED:
        return {KIND_VALUE_MEMBER[kind]: value}
    return value


def _simplified(instances: list[JsonObject], ctx: TermMapper,
                opts: TemporalRenderOptions) -> Any:
    """§4.5.9: per datasetId, {"type": kind, "<values member>": [[value, time], …]}."""
    series: dict[str | None, JsonObject] = {}
    for instance in instances:
        dataset_id = instance.get("datasetId")
        kind = instance["type"]
        if kind == "LanguageProperty" and opts.lang is not None:
            kind = "Property"
        entry = series.get(dataset_id)
        if entry is None:
            entry = {"type": kind, SIMPLIFIED_MEMBER.get(kind, "values"): []}
            if dataset_id is not None:
                entry["datasetId"] = dataset_id
            series[dataset_id] = entry
        when = instance.get(opts.timeproperty) or instance.get("observedAt") \
            or instance.get("deletedAt") or instance["modifiedAt"]
        member = SIMPLIFIED_MEMBER.get(entry["type"], "values")
        entry.setdefault(member, []).append([_pair_value(instance, ctx, opts), when])
    rendered = list(series.values())
    return rendered[0] if len(rendered) == 1 else rendered


def _aggregated(series: AggregatedSeries) -> JsonObject:
    """§4.5.19: {"type": kind, "<method>": [[value, period start, period end], …]}."""
    out: JsonObject = {"type": series.kind}
    if series.dataset_id is not None:
        out["datasetId"] = series.dataset_id
    for method, triples in series.values.items():
        out[method] = [[value, format_micros(start), format_micros(end)]
                       for value, start, end in triples]
    return out
