-- A counter every subscription change increments in its own transaction. Processes
-- sharing the database compare it with the value their in-memory subscription index was
-- loaded at: a different value means a subscription was created, changed or deleted
-- elsewhere and the index is reloaded before any change is matched.

CREATE TABLE subscription_generation (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    generation bigint NOT NULL
);
INSERT INTO subscription_generation (singleton, generation) VALUES (true, 0);
