"""Storage backends behind one small async contract (storage.base.EntityStore)."""
