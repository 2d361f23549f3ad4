"""Host-key policy: every server is verified against a known_hosts file.

An unknown host is refused unless the runbook opts in with `accept_unknown` (then the
key is trusted on first use and appended to the known_hosts file, like OpenSSH's
`StrictHostKeyChecking=accept-new`). A host whose key differs from the recorded one is
always refused: that is what a man-in-the-middle looks like.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import threading
from dataclasses import dataclass, field

import paramiko
import paramiko.hostkeys

from dr_orchestrator.remote.errors import HostKeyRejected

log = logging.getLogger(__name__)
_APPEND_LOCK = threading.Lock()


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style SHA256 fingerprint, e.g. 'SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU'."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def host_entry_name(address: str, port: int) -> str:
    """The name known_hosts uses: 'host' on port 22, '[host]:port' otherwise."""
    return address if port == 22 else f"[{address}]:{port}"


@dataclass
class KnownHosts:
    keys: paramiko.HostKeys
    revoked: set[str] = field(default_factory=set)  # base64 key blobs marked @revoked

    def is_revoked(self, key: paramiko.PKey) -> bool:
        return key.get_base64() in self.revoked


def load_known_hosts(path: str, *, must_exist: bool) -> KnownHosts:
    """Read a known_hosts file line by line, like OpenSSH: lines paramiko cannot use
    (certificate authorities, key types it lacks, damaged lines) are skipped, not fatal;
    `@revoked` keys are remembered and refused."""
    known = KnownHosts(paramiko.HostKeys())
    if not os.path.exists(path):
        if must_exist:
            raise HostKeyRejected(
                f"known_hosts file {path} does not exist, so no host key can be verified",
                "create it with the host's verified key, e.g. `ssh-keyscan -p PORT HOST >> "
                f"{path}` after checking the fingerprint out of band")
        return known
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise HostKeyRejected(f"cannot read known_hosts file {path}: {exc.strerror}",
                              "check the path and its permissions") from exc
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@"):
            marker, _, rest = line.partition(" ")
            fields = rest.split()
            if marker == "@revoked" and len(fields) >= 3:
                known.revoked.add(fields[2])
            continue  # @cert-authority: host certificates are not supported by paramiko
        try:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(line, lineno)
        except (paramiko.hostkeys.InvalidHostKey, paramiko.SSHException, ValueError) as exc:
            log.debug("%s:%d: skipped unusable known_hosts line (%s)", path, lineno, type(exc).__name__)
            continue
        if entry is None or entry.key is None:
            continue  # a key type paramiko does not know
        for name in entry.hostnames:
            known.keys.add(name, entry.key.get_name(), entry.key)
    return known


def revoked_host_error(address: str, port: int, key: paramiko.PKey, known_hosts: str) -> HostKeyRejected:
    return HostKeyRejected(
        f"host key of {host_entry_name(address, port)} ({key.get_name()} {fingerprint(key)}) is marked "
        f"@revoked in {known_hosts}; connection refused",
        "the host must get a new key; verify it out of band and record it in known_hosts")


def _scan_hint(address: str, port: int, known_hosts: str) -> str:
    return (f"verify the fingerprint out of band (on the host: `ssh-keygen -lf "
            f"/etc/ssh/ssh_host_ed25519_key.pub`), then add it with "
            f"`ssh-keyscan -p {port} {address} >> {known_hosts}`")


def unknown_host_error(address: str, port: int, key: paramiko.PKey, known_hosts: str) -> HostKeyRejected:
    return HostKeyRejected(
        f"host key of {host_entry_name(address, port)} is unknown: the server offered "
        f"{key.get_name()} {fingerprint(key)}, which is not in {known_hosts}; connection refused",
        _scan_hint(address, port, known_hosts)
        + " (or set accept_unknown_host_key only if the runbook may trust a new host on first use)")


def changed_host_error(address: str, port: int, got: paramiko.PKey, expected: paramiko.PKey,
                       known_hosts: str) -> HostKeyRejected:
    return HostKeyRejected(
        f"HOST KEY CHANGED for {host_entry_name(address, port)}: the server offered "
        f"{got.get_name()} {fingerprint(got)} but {known_hosts} records {expected.get_name()} "
        f"{fingerprint(expected)}; connection refused (possible man-in-the-middle)",
        "if the host was legitimately rebuilt, verify the new fingerprint out of band, remove the old "
        f"entry with `ssh-keygen -R '{host_entry_name(address, port)}' -f {known_hosts}` and add the "
        f"new one with `ssh-keyscan -p {port} {address} >> {known_hosts}`")


class KnownHostsPolicy(paramiko.MissingHostKeyPolicy):
    """Called by paramiko only for hosts absent from the loaded known_hosts.

    (A host present with a different key never reaches a policy: paramiko raises
    BadHostKeyException, which ssh.py turns into `changed_host_error`.)
    """

    def __init__(self, address: str, port: int, known_hosts: str, *, accept_unknown: bool,
                 revoked: set[str] | None = None) -> None:
        self.revoked = revoked or set()
        self.address = address
        self.port = port
        self.known_hosts = known_hosts
        self.accept_unknown = accept_unknown

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        if key.get_base64() in self.revoked:
            raise revoked_host_error(self.address, self.port, key, self.known_hosts)
        if not self.accept_unknown:
            raise unknown_host_error(self.address, self.port, key, self.known_hosts)
        log.warning("trusting new host key of %s on first use: %s %s (recorded in %s)",
                    hostname, key.get_name(), fingerprint(key), self.known_hosts)
        client.get_host_keys().add(hostname, key.get_name(), key)
        append_known_host(self.known_hosts, hostname, key)


def append_known_host(path: str, hostname: str, key: paramiko.PKey) -> None:
    """Record a trusted-on-first-use key so that a later change is detected."""
    line = f"{hostname} {key.get_name()} {key.get_base64()}\n"
    with _APPEND_LOCK:
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, mode=0o700, exist_ok=True)
        # Re-read under the lock: another thread may have recorded it meanwhile.
        if os.path.exists(path):
            existing = load_known_hosts(path, must_exist=False).keys.lookup(hostname)
            if existing is not None and key.get_name() in existing:
                return
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a") as f:
            f.write(line)
