-- The temporal history (Temporal Evolution of entities, ETSI GS CIM 009 §5.6.11–§5.7.4).
-- Compact rows: integer keys for the entity and the attribute IRI, times as epoch
-- microseconds, and a plain numeric Property's value in `num` with no JSON at all.

CREATE TABLE temporal_entities (
    ek bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant text NOT NULL,
    id text NOT NULL,
    types text[] NOT NULL,
    created bigint NOT NULL,
    modified bigint NOT NULL,
    UNIQUE (tenant, id)
);
CREATE INDEX temporal_entities_types ON temporal_entities USING gin (types);

CREATE TABLE temporal_attributes (
    ak integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    iri text NOT NULL UNIQUE
);

-- The instance series of an entity: attribute and datasetId ('' for the default one).
CREATE TABLE temporal_series (
    ek bigint NOT NULL,
    ak integer NOT NULL,
    dataset text NOT NULL,
    PRIMARY KEY (ek, ak, dataset)
);

-- Columns ordered so that no alignment padding is spent: 8-byte ones first, then the
-- 4-byte key, then what is usually NULL (a NULL takes no space, only a bitmap bit).
CREATE TABLE temporal_instances (
    ik bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ek bigint NOT NULL,
    observed bigint,
    created bigint NOT NULL,
    modified bigint NOT NULL,
    num double precision,
    ak integer NOT NULL,
    deleted bigint,
    dataset text,
    doc text
);
-- (entity, attribute, time): range reads, lastN, and aggregation by an index-only scan.
CREATE INDEX temporal_by_observed ON temporal_instances (ek, ak, observed) INCLUDE (num);
-- createdAt / modifiedAt / deletedAt selections per entity.
CREATE INDEX temporal_by_modified ON temporal_instances (ek, modified);
-- Retention across all entities: rows arrive in time order, so a BRIN range index of a
-- few pages finds the old ones.
CREATE INDEX temporal_modified_brin ON temporal_instances USING brin (modified);
