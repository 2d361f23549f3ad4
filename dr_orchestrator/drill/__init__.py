"""Drills: the failover plan run in isolation, always cleaned up, with evidence kept.

- isolation.py rewrites a failover plan onto each recovery site's `drill:` overrides
  (hosts, ports, paths, databases) and refuses any step that would touch production;
- cleanup.py removes every drill target afterwards (and for a crashed drill later);
- history.py keeps every drill's achieved RTO/RPO in the runbook's storage, which
  `dro history` shows and `dro plan` uses instead of hand-written estimates.
"""
