"""The entities of a Notification (ETSI GS CIM 009 V1.8.1 §5.2.14 NotificationParams,
§5.11, with the deleted-Attribute and `showChanges` representations of §4.5.x).

An entity is rendered as the Subscription's notification parameters ask (attributes,
pick/omit, format, sysAttrs, lang, datasetId, join). Deleted Attributes appear with the
NGSI-LD Null (`urn:ngsi-ld:null`) as value; with showChanges, changed and deleted
instances carry their previous value (`previousValue`, `previousObject`,
`previousLanguageMap`, …); a deleted entity carries `deletedAt`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from cityos.ngsild.model.attributes import KIND_VALUE_MEMBER
from cityos.ngsild.model.render import Form, RenderOptions, render_entity
from cityos.ngsild.model.terms import TermMapper
from cityos.ngsild.subscription.diff import ChangeSummary
from cityos.ngsild.subscription.params import ENTITY_MEMBERS
from cityos.ngsild.types import JsonObject

NULL_URI = "urn:ngsi-ld:null"
_NULL_VALUES: dict[str, Any] = {
    "LanguageProperty": {"@none": NULL_URI}, "ListProperty": [NULL_URI],
    "ListRelationship": [NULL_URI]}


@dataclass(frozen=True)
class NotificationView:
    """How a Subscription wants entities rendered."""

    opts: RenderOptions
    show_changes: bool = False


def notification_view(doc: JsonObject) -> NotificationView:
    """The rendering options of a stored Subscription's notification member."""
    params = doc["notification"]
    form: Form = "normalized"
    if params.get("format") in ("keyValues", "simplified"):
        form = "keyValues"
    elif params.get("format") == "concise":
        form = "concise"
    attrs: frozenset[str] | None = None
    members: frozenset[str] | None = None
    if "attributes" in params:
        attrs = frozenset(params["attributes"])
    elif "pick" in params:
        attrs = frozenset(n for n in params["pick"] if n not in ENTITY_MEMBERS)
        members = frozenset(n for n in params["pick"] if n in ENTITY_MEMBERS)
    dataset_ids = frozenset(doc["datasetId"]) if "datasetId" in doc else None
    opts = RenderOptions(form=form, sys_attrs=bool(params.get("sysAttrs")), attrs=attrs,
                         omit=frozenset(params.get("omit", ())), members=members,
                         lang=doc.get("lang"), join=params.get("join"),
                         join_level=params.get("joinLevel", 1), dataset_ids=dataset_ids)
    if opts.join is not None:
        # The attribute selection applies to the notified entity; linked entities are
        # shown whole (§4.5.23).
        whole = linked_view(opts)
        opts = replace(opts, linked_views={name: whole for name in attrs or ()})
    return NotificationView(opts, bool(params.get("showChanges")))


def linked_view(opts: RenderOptions) -> RenderOptions:
    """How linked entities are rendered in a notification: every attribute."""
    return replace(opts, attrs=None, members=None, omit=frozenset(), linked_views=None,
                   dataset_ids=None)


def _key(instance: JsonObject) -> str:
    return str(instance.get("datasetId", "@none"))


def _previous(instance: JsonObject, ctx: TermMapper) -> tuple[str, Any]:
    member = KIND_VALUE_MEMBER[instance["type"]]
    value = instance[member]
    if instance["type"] == "VocabProperty":
        value = ([ctx.compact_vocab_value(v) for v in value] if isinstance(value, list)
                 else ctx.compact_vocab_value(value))
    return "previous" + member[0].upper() + member[1:], value


def _deleted_instance(old: JsonObject) -> JsonObject:
    kind = old["type"]
    gone: JsonObject = {"type": kind,
                        KIND_VALUE_MEMBER[kind]: _NULL_VALUES.get(kind, NULL_URI)}
    for member in ("datasetId", "createdAt", "modifiedAt"):
        if member in old:
            gone[member] = old[member]
    return gone


def notified_entity(before: JsonObject | None, after: JsonObject | None,
                    summary: ChangeSummary, deleted_shown: frozenset[str],
                    view: NotificationView, ctx: TermMapper, changed_at: str,
                    linked: Mapping[str, JsonObject] | None = None) -> JsonObject:
    """One entity of a Notification. `deleted_shown` are the deleted Attributes to show
    (with the NGSI-LD Null); `changed_at` is when the change was committed."""
    base = after if after is not None else before
    assert base is not None
    attrs: dict[str, list[JsonObject]] = {} if after is None else dict(after["attrs"])
    extras: dict[tuple[str, str], JsonObject] = {}
    if view.show_changes and after is not None and before is not None:
        for name in summary.updated:
            old = {_key(i): i for i in before["attrs"].get(name, [])}
            for instance in after["attrs"][name]:
                if _key(instance) in old and old[_key(instance)] != instance:
                    member, value = _previous(old[_key(instance)], ctx)
                    extras[(name, _key(instance))] = {member: value}
    for name in deleted_shown:
        assert before is not None
        remaining = {_key(i) for i in attrs.get(name, [])}
        gone = [i for i in before["attrs"].get(name, []) if _key(i) not in remaining]
        if not remaining and len(gone) > 1:
            # The whole Attribute went: shown once, as the deleted Attribute it now is.
            gone = [{k: v for k, v in gone[0].items() if k != "datasetId"}]
        attrs[name] = [*attrs.get(name, []), *(_deleted_instance(i) for i in gone)]
        for instance in gone:
            extra: JsonObject = {}
            if view.show_changes:
                member, value = _previous(instance, ctx)
                extra[member] = value
            if view.opts.sys_attrs:
                extra["deletedAt"] = changed_at
            extras[(name, _key(instance))] = extra
    out = render_entity({**base, "attrs": attrs}, ctx, view.opts, linked)
    if after is None:
        out["deletedAt"] = changed_at
    if extras and view.opts.form != "keyValues":
        _annotate(out, attrs, extras, view.opts, ctx)
    return out


def _annotate(out: JsonObject, attrs: Mapping[str, list[JsonObject]],
              extras: Mapping[tuple[str, str], JsonObject], opts: RenderOptions,
              ctx: TermMapper) -> None:
    """Add previous values / deletedAt to the rendered instances they belong to."""
    for name in {n for n, _ in extras}:
        key = ctx.compact_iri(name)
        if key not in out:
            continue
        instances = attrs[name]
        if opts.dataset_ids is not None:
            instances = [i for i in instances if _key(i) in opts.dataset_ids]
        rendered = out[key] if isinstance(out[key], list) and len(instances) > 1 \
            else [out[key]]
        annotated = []
        for instance, shown in zip(instances, rendered, strict=False):
            extra = extras.get((name, _key(instance)))
            if extra:
                shown = {**(shown if isinstance(shown, dict) else {"value": shown}), **extra}
            annotated.append(shown)
        out[key] = annotated if len(annotated) > 1 else annotated[0]
