"""Linked entity retrieval (ETSI GS CIM 009 §4.5.23): the entities that Relationships point
at, followed `join_level` hops from the requested entities, within one tenant."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from cityos.ngsild.model.render import RenderOptions
from cityos.ngsild.types import JsonObject
from cityos.storage.base import EntityStore

MAX_JOIN_LEVEL = 5
MAX_LINKED = 1000


def instance_targets(instances: list[JsonObject]) -> Iterator[str]:
    """The entity ids one attribute's Relationship / ListRelationship instances point at."""
    for instance in instances:
        if instance["type"] == "Relationship":
            target = instance["object"]
            yield from (target if isinstance(target, list) else [target])
        elif instance["type"] == "ListRelationship":
            yield from instance["objectList"]


def relationship_targets(entity: JsonObject) -> Iterator[str]:
    for instances in entity["attrs"].values():
        yield from instance_targets(instances)


async def linked_entities(store: EntityStore, tenant: str, roots: list[JsonObject],
                          join_level: int) -> dict[str, JsonObject]:
    """Linked entities by id, in discovery order (breadth first), at most MAX_LINKED."""
    seen = {entity["id"] for entity in roots}
    found: dict[str, JsonObject] = {}
    frontier = roots
    for _ in range(min(join_level, MAX_JOIN_LEVEL)):
        next_frontier = []
        for target in dict.fromkeys(t for e in frontier for t in relationship_targets(e)):
            if target in seen or len(found) >= MAX_LINKED:
                continue
            seen.add(target)
            linked = await store.get_entity(tenant, target)
            if linked is not None:
                found[target] = linked
                next_frontier.append(linked)
        frontier = next_frontier
    return found


def flat_views(roots: list[JsonObject], linked: Mapping[str, JsonObject],
                opts: RenderOptions) -> dict[str, RenderOptions]:
    """With join=flat, the entities reached through the Relationships the response
    shows (one projected away links nothing), each projected as the relationship that
    reached it asks (V1.9 §4.21 `rel{…}`); breadth first, the first path found wins."""
    views: dict[str, RenderOptions] = {}
    frontier = [(entity, opts) for entity in roots]
    while frontier:
        next_frontier = []
        for entity, view in frontier:
            for name, instances in entity["attrs"].items():
                if not view.keeps(name):
                    continue
                for target in instance_targets(instances):
                    if target in linked and target not in views:
                        views[target] = view.view_through(name)
                        next_frontier.append((linked[target], views[target]))
        frontier = next_frontier
    return views
