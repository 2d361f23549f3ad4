"""Backend contract suite: one class, every storage backend joins with one line."""
