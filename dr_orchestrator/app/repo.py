"""Use cases of the repository commands: open/init, backup, list, diff, restore, verify, forget, prune.

The CLI parses arguments and renders; everything it needs is here. Passwords come
from DRO_PASSWORD or a password file — never from a command-line value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dr_orchestrator.errors import BadInput
from dr_orchestrator.repository import Repository
from dr_orchestrator.repository.format import utc_iso
from dr_orchestrator.repository.locks import LockInfo, remove_locks
from dr_orchestrator.repository.snapshot import Snapshot
from dr_orchestrator.repository.tree import Node
from dr_orchestrator.storage.registry import open_backend

if TYPE_CHECKING:
    from dr_orchestrator.repository.retention import Policy


def repo_url(url: str | None) -> str:
    url = url or os.environ.get("DRO_REPO")
    if not url:
        raise BadInput("no repository given", "pass --repo URL or set DRO_REPO")
    return url


def read_password(password_file: str | None, *, env: str = "DRO_PASSWORD", what: str = "password") -> str:
    if password_file:
        try:
            with open(password_file, encoding="utf-8") as f:
                pw = f.readline().rstrip("\r\n")
        except OSError as exc:
            raise BadInput(f"cannot read the {what} file {password_file}: {exc.strerror}") from exc
    else:
        pw = os.environ.get(env, "")
    if not pw:
        raise BadInput(f"no {what} given", f"set {env} or pass a --{what.replace(' ', '-')}-file")
    return pw


def init_repo(url: str, password: str) -> Repository:
    return Repository.init(open_backend(url), password)


def open_repo(url: str, password: str) -> Repository:
    return Repository.open(open_backend(url), password)


def parse_when(text: str | None) -> datetime | None:
    """An ISO date/time (UTC when no zone is given)."""
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadInput(f"invalid time {text!r}", "use ISO 8601, e.g. 2026-11-26T05:00:00Z") from exc
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def node_json(path: str, n: Node) -> dict[str, Any]:
    return {"path": path, "type": n.type, "mode": oct(n.mode), "size": n.size, "uid": n.uid, "gid": n.gid,
            "user": n.user, "group": n.group,
            "mtime": utc_iso(datetime.fromtimestamp(n.mtime_ns / 1e9, UTC)),
            **({"target": n.target} if n.type == "symlink" else {})}


def ls(repo: Repository, snap: Snapshot, path: str = "/") -> list[dict[str, Any]]:
    node = repo.find_node(snap, path)
    prefix = "/" + path.strip("/") if path.strip("/") else ""
    if node.type != "dir":
        return [node_json(prefix, node)]
    return [node_json(p, n) for p, n in repo.walk(node.subtree or "", prefix)]


@dataclass
class Diff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    metadata: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def diff(repo: Repository, a: Snapshot, b: Snapshot) -> Diff:
    left = {p: n for p, n in repo.walk(a.tree)}
    right = {p: n for p, n in repo.walk(b.tree)}
    d = Diff(added=sorted(set(right) - set(left)), removed=sorted(set(left) - set(right)))
    for p in sorted(set(left) & set(right)):
        x, y = left[p], right[p]
        if x.type != y.type or x.content != y.content or x.target != y.target:
            d.modified.append(p)
        elif (x.mode, x.uid, x.gid, x.mtime_ns) != (y.mode, y.uid, y.gid, y.mtime_ns) and x.type != "dir":
            d.metadata.append(p)
    return d


def policy_from(*, keep_last: int, keep_hourly: int, keep_daily: int, keep_weekly: int, keep_monthly: int,
                keep_yearly: int, keep_within: str | None, keep_tags: list[str],
                immutable_for: str | None) -> Policy:
    from dr_orchestrator.repository.retention import Policy, parse_duration

    return Policy(keep_last=keep_last, keep_hourly=keep_hourly, keep_daily=keep_daily,
                  keep_weekly=keep_weekly, keep_monthly=keep_monthly, keep_yearly=keep_yearly,
                  keep_within=parse_duration(keep_within) if keep_within else None,
                  keep_tags=tuple(keep_tags), immutable_for=parse_duration(immutable_for) if immutable_for else None)


def unlock(url: str, *, remove_all: bool = False) -> list[LockInfo]:
    return remove_locks(open_backend(url), all_locks=remove_all)
