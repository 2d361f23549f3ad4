"""Scheduling: the cron-driven daemon (`dro schedule run`) and exports to cron, systemd,
GitHub Actions and Kubernetes (`dro schedule export`)."""

from dr_orchestrator.scheduling.clock import Clock, ManualClock, SystemClock
from dr_orchestrator.scheduling.cron import next_after, previous_at_or_before
from dr_orchestrator.scheduling.daemon import Job, JobResult, Scheduler
from dr_orchestrator.scheduling.state import StateStore

__all__ = ["Clock", "Job", "JobResult", "ManualClock", "Scheduler", "StateStore", "SystemClock", "next_after",
           "previous_at_or_before"]
