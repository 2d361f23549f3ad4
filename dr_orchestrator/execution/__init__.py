"""Executing plans: executor, journal, state, locks and one step handler per kind."""
