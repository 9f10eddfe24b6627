-- Entities, their indexes, and the SQL helpers the compiled q / scopeQ / orderBy use.
CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE tenants (name text PRIMARY KEY);

-- One row per entity: the internal form as JSONB (cityos.ngsild.model), its types as an
-- array for type expressions (GIN), timestamps as stored strings for orderBy.
CREATE TABLE entities (
    pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant text NOT NULL,
    id text NOT NULL,
    types text[] NOT NULL,
    doc jsonb NOT NULL,
    created_at text NOT NULL,
    modified_at text NOT NULL,
    -- Transient entities (V1.9.1 §4.22): when the next thing in the entity expires.
    expires_at timestamptz,
    UNIQUE (tenant, id)
);
-- A tenant read in pk (insertion) order, so LIMIT stops early without a sort.
CREATE INDEX entities_tenant_pk ON entities (tenant, pk);
CREATE INDEX entities_types ON entities USING gin (types);
CREATE INDEX entities_expires_at ON entities (expires_at) WHERE expires_at IS NOT NULL;

-- Every scalar an attribute compares with in q (value_index.py): numbers exactly as
-- numeric, strings up to a length a btree entry can hold.
CREATE TABLE attr_values (
    pk bigint NOT NULL REFERENCES entities (pk) ON DELETE CASCADE,
    attr text NOT NULL,
    num numeric,
    txt text
);
CREATE INDEX attr_values_num ON attr_values (attr, num) WHERE num IS NOT NULL;
CREATE INDEX attr_values_txt ON attr_values (attr, txt) WHERE txt IS NOT NULL;
CREATE INDEX attr_values_pk ON attr_values (pk);

-- One row per instance of every GeoProperty. `geometry` (planar lon/lat, as RFC 7946 and
-- the shapely predicates) answers within/contains/…; its `geography` cast answers `near`
-- in metres on the WGS 84 spheroid. Both are GiST-indexed.
CREATE TABLE geo_index (
    pk bigint NOT NULL REFERENCES entities (pk) ON DELETE CASCADE,
    attr text NOT NULL,
    geom geometry NOT NULL
);
CREATE INDEX geo_index_geom ON geo_index USING gist (geom);
CREATE INDEX geo_index_geog ON geo_index USING gist ((geom::geography));
CREATE INDEX geo_index_pk ON geo_index (pk);

CREATE TABLE jsonld_contexts (
    local_id text PRIMARY KEY,
    tenant text NOT NULL,
    record jsonb NOT NULL
);

-- The elements a q target compares with (cityos.ngsild.query.evaluate): an array's
-- non-container elements, or a scalar itself; objects and a missing target give none.
CREATE FUNCTION ngsild_scalars(target jsonb) RETURNS SETOF jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT x FROM jsonb_array_elements(CASE WHEN jsonb_typeof(target) = 'array'
                                            THEN target ELSE jsonb_build_array(target) END) AS x
    WHERE target IS NOT NULL AND jsonb_typeof(x) NOT IN ('array', 'object')
$$;

-- The strings of a languageMap: the scalars of each of its members.
CREATE FUNCTION ngsild_language_scalars(language_map jsonb) RETURNS SETOF jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT x FROM jsonb_each(CASE WHEN jsonb_typeof(language_map) = 'object'
                                  THEN language_map END) AS m,
                  ngsild_scalars(m.value) AS x
$$;

-- Member `key` of an object, NULL for anything else (arrays are never indexed by q keys).
CREATE FUNCTION ngsild_key(target jsonb, key text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(target) = 'object' THEN target -> key END
$$;

-- Typed views of a JSON scalar: NULL when it is of another kind, so that values of
-- different kinds never compare (a CASE, because AND does not fix evaluation order).
CREATE FUNCTION ngsild_num(x jsonb) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(x) = 'number' THEN x::numeric END
$$;

CREATE FUNCTION ngsild_str(x jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(x) = 'string' THEN x #>> '{}' END
$$;

-- Canonical YYYY-MM-DDTHH:MM:SS.ffffffZ form of a stored UTC DateTime string, else NULL
-- (the rule of evaluate.stored_datetime_key: fraction padded or cut to microseconds).
CREATE FUNCTION ngsild_datetime_key(x jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN jsonb_typeof(x) = 'string' AND (x #>> '{}') ~
                     '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$'
           THEN left(x #>> '{}', 19) || '.'
                || rpad(coalesce(substring(x #>> '{}' FROM '\.([0-9]+)Z$'), ''), 6, '0')
                || 'Z' END
$$;

-- `~=`, idPattern and scope patterns with `+`: a POSIX regular expression search; a
-- pattern PostgreSQL cannot compile matches nothing instead of failing the query.
CREATE FUNCTION ngsild_regexp(subject text, pattern text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
    RETURN subject ~ pattern;
EXCEPTION WHEN invalid_regular_expression THEN
    RETURN false;
END
$$;
