"""Replication of repositories between sites, integrity, repair and RPO measurement.

- replicator.py: the object-level copy (listing diff, commit-order phases, hold-back);
- options.py: how a replication runs (Options) and the progress it reports;
- transfer.py: one verified object copy (server-side or streamed, bounded memory);
- throttle.py: bandwidth token bucket and memory budget;
- listing.py / localfast.py: fast listings and local replica writes;
- retention.py: mirroring the source's forget/prune at the target, safely;
- graph.py / repo_graph.py: what a snapshot needs (with the password), verify_before_replicate;
- rpo.py: RPO per data class and site, Prometheus text metrics;
- layout.py: the repository object layout contract as replication sees it.
Submodules are imported where used, so importing this package stays cheap.
"""
