"""Trees and nodes: one tree blob per directory (docs/repository-format.md §6).

Reading a tree validates every name: no empty, '.', '..', '/' or NUL names and no
duplicates — a crafted snapshot therefore cannot name a path outside the restore
target.
"""

from __future__ import annotations

import json
import os
import stat as stat_mod
from dataclasses import dataclass, field
from typing import Any

from dr_orchestrator.errors import IntegrityError

# Content item: a data blob id (hex) or an int = that many zero bytes (a hole).
Content = list[str | int]


@dataclass
class Node:
    name: str
    type: str  # file | dir | symlink | fifo | chardev | blockdev | socket
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    user: str = ""
    group: str = ""
    mtime_ns: int = 0
    ctime_ns: int = 0
    inode: int = 0
    dev: int = 0
    nlink: int = 1
    size: int = 0
    content: Content = field(default_factory=list)
    subtree: str | None = None
    target: str | None = None
    rdev: int = 0

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "type": self.type, "mode": self.mode, "uid": self.uid,
                             "gid": self.gid, "user": self.user, "group": self.group,
                             "mtime_ns": self.mtime_ns}
        if self.type == "file":
            d.update(size=self.size, ctime_ns=self.ctime_ns, inode=self.inode, dev=self.dev,
                     nlink=self.nlink, content=self.content)
        elif self.type == "dir":
            d["subtree"] = self.subtree
        elif self.type == "symlink":
            d["target"] = self.target
        elif self.type in ("chardev", "blockdev"):
            d["rdev"] = self.rdev
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Node:
        return cls(name=d["name"], type=d["type"], mode=int(d.get("mode", 0o644)), uid=int(d.get("uid", 0)),
                   gid=int(d.get("gid", 0)), user=str(d.get("user", "")), group=str(d.get("group", "")),
                   mtime_ns=int(d.get("mtime_ns", 0)), ctime_ns=int(d.get("ctime_ns", 0)),
                   inode=int(d.get("inode", 0)), dev=int(d.get("dev", 0)), nlink=int(d.get("nlink", 1)),
                   size=int(d.get("size", 0)), content=list(d.get("content", [])), subtree=d.get("subtree"),
                   target=d.get("target"), rdev=int(d.get("rdev", 0)))

    def data_blobs(self) -> list[str]:
        return [c for c in self.content if isinstance(c, str)]


_TYPES = {"file", "dir", "symlink", "fifo", "chardev", "blockdev", "socket"}


def check_name(name: object) -> str:
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\x00" in name:
        raise IntegrityError(f"snapshot contains an unsafe file name {name!r}",
                             "the snapshot may have been crafted to write outside the restore target; "
                             "it was refused")
    return name


def encode_tree(nodes: list[Node]) -> bytes:
    nodes = sorted(nodes, key=lambda n: n.name)
    return json.dumps({"nodes": [n.to_json() for n in nodes]}, separators=(",", ":")).encode()


def decode_tree(raw: bytes, what: str) -> list[Node]:
    try:
        doc = json.loads(raw)
        nodes = [Node.from_json(d) for d in doc["nodes"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"{what} is not a valid tree") from exc
    seen: set[str] = set()
    for n in nodes:
        check_name(n.name)
        if n.name in seen:
            raise IntegrityError(f"{what} names {n.name!r} twice", "the snapshot was refused")
        seen.add(n.name)
        if n.type not in _TYPES:
            raise IntegrityError(f"{what}: {n.name!r} has unknown type {n.type!r}")
        if n.type == "dir" and not isinstance(n.subtree, str):
            raise IntegrityError(f"{what}: directory {n.name!r} has no subtree")
        for c in n.content:
            if isinstance(c, int) and c < 0:
                raise IntegrityError(f"{what}: {n.name!r} has a negative hole")
    return nodes


def decode_tree_dicts(raw: bytes, what: str) -> dict[str, dict[str, Any]]:
    """A tree's nodes as raw JSON objects by name, without building `Node`s: the archiver compares
    them with fresh `lstat` results and reuses them verbatim (a no-change backup builds no nodes).
    Only the shape is checked here; a node is trusted only after it matched (`same_meta`) and its
    content passed the archiver's checks, and `Node.from_json` + `decode_tree` rules apply the
    moment it is rebuilt."""
    try:
        doc = json.loads(raw)
        out = {d["name"]: d for d in doc["nodes"] if isinstance(d, dict) and isinstance(d.get("name"), str)}
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"{what} is not a valid tree") from exc
    if len(out) != len(doc["nodes"]):
        raise IntegrityError(f"{what} names a node twice or has a malformed node", "the snapshot was refused")
    return out


def same_meta(d: dict[str, Any], st: os.stat_result, kind: str, user: str, group: str) -> bool:
    """True when the stored node `d` has exactly the metadata `node_from_stat` would record for `st`
    (for a file including size, ctime, inode, device and link count; not its content)."""
    if (d.get("type") != kind or d.get("mtime_ns") != st.st_mtime_ns or d.get("mode") != stat_mod.S_IMODE(st.st_mode)
            or d.get("uid") != st.st_uid or d.get("gid") != st.st_gid
            or d.get("user") != user or d.get("group") != group):
        return False
    if kind == "file":
        return (d.get("size") == st.st_size and d.get("ctime_ns") == st.st_ctime_ns and d.get("inode") == st.st_ino
                and d.get("dev") == st.st_dev and d.get("nlink") == st.st_nlink)
    return True


_KINDS = {stat_mod.S_IFREG: "file", stat_mod.S_IFDIR: "dir", stat_mod.S_IFLNK: "symlink",
          stat_mod.S_IFIFO: "fifo", stat_mod.S_IFCHR: "chardev", stat_mod.S_IFBLK: "blockdev"}


def kind_of(m: int) -> str:
    return _KINDS.get(stat_mod.S_IFMT(m), "socket")


def node_from_stat(name: str, st: os.stat_result, users: dict[int, str], groups: dict[int, str]) -> Node:
    m = st.st_mode
    kind = kind_of(m)
    return Node(name=name, type=kind, mode=stat_mod.S_IMODE(m), uid=st.st_uid, gid=st.st_gid,
                user=_name(users, st.st_uid, True), group=_name(groups, st.st_gid, False),
                mtime_ns=st.st_mtime_ns, ctime_ns=st.st_ctime_ns, inode=st.st_ino, dev=st.st_dev,
                nlink=st.st_nlink, size=st.st_size if kind == "file" else 0, rdev=st.st_rdev)


def user_name(cache: dict[int, str], uid: int) -> str:
    return cache[uid] if uid in cache else _name(cache, uid, True)


def group_name(cache: dict[int, str], gid: int) -> str:
    return cache[gid] if gid in cache else _name(cache, gid, False)


def _name(cache: dict[int, str], ident: int, user: bool) -> str:
    if ident not in cache:
        try:
            if user:
                import pwd

                cache[ident] = pwd.getpwuid(ident).pw_name
            else:
                import grp

                cache[ident] = grp.getgrgid(ident).gr_name
        except KeyError:
            cache[ident] = ""
    return cache[ident]
