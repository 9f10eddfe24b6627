"""Rendering internal entities for a client (ETSI GS CIM 009 §4.5.3, §4.5.4, §4.5.25, §4.15).

Three representations: normalized, keyValues (a.k.a. simplified) and concise. Names are
compacted with the request's @context; `lang` picks one string out of LanguageProperties.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from cityos.ngsild.model.attributes import KIND_VALUE_MEMBER
from cityos.ngsild.model.terms import TermMapper
from cityos.ngsild.types import JsonObject

Form = Literal["normalized", "keyValues", "concise"]
METADATA = ("observedAt", "unitCode", "datasetId", "objectType")
ENTITY_MEMBERS = ("id", "type", "scope")


@dataclass(frozen=True)
class RenderOptions:
    """What the client asked for. `attrs` holds attribute IRIs to keep (None = all);
    `pick`/`omit` may also name the entity members id, type and scope (§4.21)."""

    form: Form = "normalized"
    sys_attrs: bool = False
    attrs: frozenset[str] | None = None
    omit: frozenset[str] = frozenset()
    members: frozenset[str] | None = None
    lang: str | None = None
    join: Literal["inline", "flat"] | None = None
    join_level: int = 1
    dataset_ids: frozenset[str] | None = None  # §4.5.5: "@none" names the default instance
    # V1.9 §4.21 `rel{…}`: how entities linked through attribute `rel` are projected.
    linked_views: Mapping[str, RenderOptions] | None = None

    def view_through(self, relationship: str) -> RenderOptions:
        """Options for an entity reached through `relationship`, one join level down: the
        projection `rel{…}` asks for it (V1.9 §4.21), else the whole entity — the
        projection of the entities queried is not the linked entities' (same form,
        language and sysAttrs)."""
        view = (self.linked_views or {}).get(relationship)
        if view is None:
            view = replace(self, attrs=None, omit=frozenset(), members=None,
                           dataset_ids=None, linked_views=None)
        return replace(view, join=self.join, join_level=self.join_level - 1)

    def keeps(self, attribute: str) -> bool:
        """Is the attribute (an expanded IRI) in the projection?"""
        return (self.attrs is None or attribute in self.attrs) and attribute not in self.omit


def render_entity(entity: JsonObject, ctx: TermMapper, opts: RenderOptions,
                  linked: Mapping[str, JsonObject] | None = None) -> JsonObject:
    """One entity for the client; with `join=inline`, linked entities embedded (§4.5.23)."""
    out: JsonObject = {}
    members = opts.members
    if _wanted_member("id", members, opts.omit):
        out["id"] = entity["id"]
    if _wanted_member("type", members, opts.omit):
        types = [ctx.compact_iri(t) for t in entity["type"]]
        out["type"] = types[0] if len(types) == 1 else types
    if "scope" in entity and _wanted_member("scope", members, opts.omit):
        scopes = entity["scope"]
        out["scope"] = scopes[0] if len(scopes) == 1 else scopes
    if opts.sys_attrs:
        out["createdAt"] = entity["createdAt"]
        out["modifiedAt"] = entity["modifiedAt"]
        if "expiresAt" in entity:
            out["expiresAt"] = entity["expiresAt"]
    for iri, instances in entity["attrs"].items():
        if not opts.keeps(iri):
            continue
        if opts.dataset_ids is not None:
            instances = [i for i in instances
                         if i.get("datasetId", "@none") in opts.dataset_ids]
            if not instances:
                continue
        rendered = [render_instance(i, ctx, opts, linked, iri) for i in instances]
        out[ctx.compact_iri(iri)] = _multi(instances, rendered, opts)
    return out


def _multi(instances: list[JsonObject], rendered: list[Any], opts: RenderOptions) -> Any:
    """Several instances: an array, or in keyValues the dataset map of §4.5.4."""
    if len(rendered) == 1:
        return rendered[0]
    if opts.form == "keyValues":
        return {"dataset": {i.get("datasetId", "@none"): r
                            for i, r in zip(instances, rendered, strict=True)}}
    return rendered


def _wanted_member(name: str, members: frozenset[str] | None, omit: frozenset[str]) -> bool:
    return (members is None or name in members) and name not in omit


KEY_VALUE_WRAPPED = {"LanguageProperty": "languageMap", "JsonProperty": "json",
                     "VocabProperty": "vocab"}


def render_instance(instance: JsonObject, ctx: TermMapper, opts: RenderOptions,
                    linked: Mapping[str, JsonObject] | None = None,
                    name: str = "") -> Any:
    kind = instance["type"]
    if kind == "Property" and opts.form == "normalized" and not opts.sys_attrs \
            and "attrs" not in instance:  # the usual case, as the general path renders it
        out: JsonObject = {"type": "Property", "value": instance["value"]}
        for member in METADATA:
            if member in instance:
                out[member] = instance[member]
        return out
    value = _client_value(instance, ctx)
    if kind == "LanguageProperty" and opts.lang is not None:
        return _render_language_choice(instance, ctx, opts)
    target = _inline_target(instance, opts, linked)
    if opts.form == "keyValues":
        if target is not None:
            return render_entity(target, ctx, opts.view_through(name), linked)
        if kind in KEY_VALUE_WRAPPED:  # §4.5.4: wrapped so the kind stays recognisable
            return {KEY_VALUE_WRAPPED[kind]: value}
        return value
    if kind == "ListRelationship":  # §4.5.22: each entry as {"object": URI} outside keyValues
        value = [{"object": target} for target in value]
    out = {} if opts.form == "concise" else {"type": kind}
    out[KIND_VALUE_MEMBER[kind]] = value
    _add_metadata(instance, out, ctx, opts)
    if target is not None:
        out["entity"] = render_entity(target, ctx, opts.view_through(name), linked)
    if opts.form == "concise" and kind == "Property" and len(out) == 1 \
            and not isinstance(value, dict):
        return value
    return out


def _inline_target(instance: JsonObject, opts: RenderOptions,
                   linked: Mapping[str, JsonObject] | None) -> JsonObject | None:
    if opts.join != "inline" or opts.join_level < 1 or not linked:
        return None
    if instance["type"] != "Relationship" or not isinstance(instance["object"], str):
        return None
    return linked.get(instance["object"])


def _client_value(instance: JsonObject, ctx: TermMapper) -> Any:
    kind = instance["type"]
    value = instance[KIND_VALUE_MEMBER[kind]]
    if kind == "VocabProperty":
        if isinstance(value, list):
            return [ctx.compact_vocab_value(v) for v in value]
        return ctx.compact_vocab_value(value)
    return value


def _add_metadata(instance: JsonObject, out: JsonObject, ctx: TermMapper,
                  opts: RenderOptions) -> None:
    for member in METADATA:
        if member in instance:
            out[member] = instance[member]
    if opts.sys_attrs:
        for member in ("createdAt", "modifiedAt", "expiresAt"):
            if member in instance:
                out[member] = instance[member]
    for sub_iri, sub in instance.get("attrs", {}).items():
        out[ctx.compact_iri(sub_iri)] = render_instance(sub, ctx, opts)


def pick_language(language_map: JsonObject, wanted: str) -> tuple[str, Any]:
    """§4.15: the best entry of a languageMap for a `lang` list like "ja,en;q=0.5" or "*"."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(wanted.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.strip()))
    for _, _, tag in sorted(ranked):
        if tag == "*" and language_map:
            first = next(iter(language_map))
            return first, language_map[first]
        for candidate in _lookup_chain(tag):  # RFC 4647 §3.4 lookup: nl-BE → nl
            if candidate in language_map:
                return candidate, language_map[candidate]
    for fallback in ("@none", "en"):
        if fallback in language_map:
            return fallback, language_map[fallback]
    first = next(iter(language_map))
    return first, language_map[first]


def _lookup_chain(tag: str) -> list[str]:
    parts = tag.split("-")
    return ["-".join(parts[:n]) for n in range(len(parts), 0, -1)]


def _render_language_choice(instance: JsonObject, ctx: TermMapper, opts: RenderOptions) -> Any:
    assert opts.lang is not None
    tag, text = pick_language(instance["languageMap"], opts.lang)
    if opts.form == "keyValues":
        return text
    out: JsonObject = {} if opts.form == "concise" else {"type": "Property"}
    out["value"] = text
    out["lang"] = tag
    _add_metadata(instance, out, ctx, opts)
    return out
