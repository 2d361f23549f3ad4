"""Scheduling: the cron-driven daemon (`dro schedule run`, daemon.py) with an injectable clock
(clock.py), its run-history file (state.py), and exports to cron, systemd, GitHub Actions and
Kubernetes (exports.py). Submodules are imported where used: this package stays cheap to import."""
