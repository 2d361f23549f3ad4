"""Environment variables over SSH, delivered or reported — never lost silently.

sshd passes only names matching its `AcceptEnv`. paramiko's own env request asks for
no reply, so a refused name would simply be missing on the host. Here each name is
asked for once per connection *with* a reply; the answer is cached (accepted names
are sent without waiting afterwards). A refusal makes paramiko close the channel, so
the caller retries on a fresh channel without that name. Refused names are logged and
reported in `CommandResult.env_refused`, or raise `EnvRejected` with `strict_env`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

import paramiko
from paramiko.common import cMSG_CHANNEL_REQUEST
from paramiko.message import Message

from dr_orchestrator.remote.errors import EnvRejected, HostUnreachable

log = logging.getLogger(__name__)


class EnvRefusedRetry(Exception):
    """The channel died because sshd refused a name (now cached): use a new channel."""


class EnvCache:
    """Per connection: which names this sshd accepts and refuses."""

    def __init__(self) -> None:
        self.accepted: set[str] = set()
        self.refused: set[str] = set()
        self.lock = threading.Lock()


def _request(chan: paramiko.Channel, name: str, value: str, want_reply: bool) -> Message:
    m = Message()
    m.add_byte(cMSG_CHANNEL_REQUEST)
    m.add_int(chan.remote_chanid)
    m.add_string("env")
    m.add_boolean(want_reply)
    m.add_string(name)
    m.add_string(value)
    return m


def _rejected(name: str, host: str) -> EnvRejected:
    return EnvRejected(
        f"sshd on {host} refused environment variable {name} (not in its AcceptEnv list)",
        f"add `AcceptEnv {name}` (or a pattern such as `AcceptEnv DR_* DRO_*`) to the host's "
        "sshd_config and reload sshd, or do not pass it to this host")


def send_env(chan: paramiko.Channel, env: Mapping[str, str], cache: EnvCache, host: str,
             *, strict: bool) -> tuple[str, ...]:
    """Send `env` on a fresh channel; returns the names skipped as refused."""
    transport = chan.get_transport()
    skipped: list[str] = []
    for name, value in env.items():
        with cache.lock:
            refused, accepted = name in cache.refused, name in cache.accepted
        if refused:
            if strict:
                raise _rejected(name, host)
            skipped.append(name)
            continue
        if accepted:
            transport._send_user_message(_request(chan, name, value, False))  # type: ignore[attr-defined]
            continue
        # The same request/reply plumbing paramiko's exec_command uses.
        chan._event_pending()  # type: ignore[attr-defined]
        try:
            transport._send_user_message(_request(chan, name, value, True))  # type: ignore[attr-defined]
            chan._wait_for_event()  # type: ignore[attr-defined]
        except (paramiko.SSHException, OSError, EOFError) as exc:
            if not transport.is_active():
                raise HostUnreachable(f"connection to {host} dropped while starting a command: {exc}") from exc
            with cache.lock:
                cache.refused.add(name)
            log.warning("sshd on %s refused environment variable %s (not in AcceptEnv); "
                        "commands there run without it", host, name)
            if strict:
                raise _rejected(name, host) from exc
            raise EnvRefusedRetry(name) from exc
        with cache.lock:
            cache.accepted.add(name)
    return tuple(skipped)
