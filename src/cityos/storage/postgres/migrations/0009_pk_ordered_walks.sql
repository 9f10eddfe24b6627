-- Indexes for queries in insertion (pk) order that stop at their LIMIT (reads.py): the
-- page's keys are found by index-only scans, and only the page's documents are read.

-- A tenant's entities in pk order with their types: a type filter walks this index
-- without visiting the table (was: (tenant, pk) alone).
CREATE INDEX entities_tenant_pk_types ON entities (tenant, pk) INCLUDE (types);
DROP INDEX entities_tenant_pk;

-- An attribute's numbers in pk order: a broad numeric q-term (`count>50000`) is merged
-- with the walk above instead of hashing every matching key first. Numbers only (a
-- comparison implies `num IS NOT NULL`): an index with INCLUDE columns is not
-- deduplicated, and each entry repeats the attribute IRI.
CREATE INDEX attr_values_attr_pk ON attr_values (attr, pk) INCLUDE (num) WHERE num IS NOT NULL;
