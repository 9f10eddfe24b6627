"""The PostgreSQL/PostGIS backend: several stateless `cityos serve` processes share one
database. Entities are JSONB documents; q comparisons are led by an attribute-value side
table, geo-queries by PostGIS GiST indexes; schema changes are numbered SQL migrations."""
