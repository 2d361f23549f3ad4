"""Host-key policy, authentication and connection errors against the real sshd.

Port 2222 and 2223 have different host keys, so "the key of the other host" is a
realistic changed key (what a man-in-the-middle or a rebuilt host presents).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dr_orchestrator.errors import EXIT_BAD_INPUT, BadInput
from dr_orchestrator.remote import (
    AuthFailed,
    EnvRejected,
    HostKeyRejected,
    HostSpec,
    HostUnreachable,
    close_all,
    connect,
)
from dr_orchestrator.remote.hostkeys import fingerprint
from tests import servers


@pytest.fixture(autouse=True)
def _fresh_pool() -> Iterator[None]:
    close_all()  # every test here connects for real, never through a pooled connection
    yield
    close_all()


def spec(server: dict[str, object], **kw: object) -> HostSpec:
    values: dict[str, object] = {"address": "127.0.0.1", "port": 2222, "user": "root",
                                 "key_path": server["key"], "known_hosts": server["known_hosts"],
                                 "connect_timeout": 10.0}
    values.update(kw)
    return HostSpec(**values)  # type: ignore[arg-type]


def host_pub(name: str) -> str:
    """'ssh-ed25519 AAAA…' of one test sshd's host key."""
    text = Path(servers.SSH_DIR, f"{name}_host_ed25519.pub").read_text().split()
    return f"{text[0]} {text[1]}"


def openssh_fingerprint(name: str) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", f"{servers.SSH_DIR}/{name}_host_ed25519.pub"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()[1]


def test_fingerprint_matches_openssh(ssh_server: dict[str, object]) -> None:
    blob = host_pub("sshd").split()[1]
    key = paramiko.Ed25519Key(data=__import__("base64").b64decode(blob))
    assert fingerprint(key) == openssh_fingerprint("sshd")


def test_unknown_host_refused(ssh_server: dict[str, object], tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(HostKeyRejected) as err:
        connect(spec(ssh_server, known_hosts=str(empty)))
    e = err.value
    assert isinstance(e, BadInput) and e.exit_code == EXIT_BAD_INPUT and not e.retryable
    assert "[127.0.0.1]:2222" in e.message and openssh_fingerprint("sshd") in e.message
    assert e.hint is not None and "ssh-keyscan -p 2222 127.0.0.1" in e.hint
    assert empty.read_text() == ""  # nothing was trusted behind our back


def test_missing_known_hosts_file_refused(ssh_server: dict[str, object], tmp_path: Path) -> None:
    with pytest.raises(HostKeyRejected, match="does not exist"):
        connect(spec(ssh_server, known_hosts=str(tmp_path / "absent")))


def test_changed_host_key_refused(ssh_server: dict[str, object], tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:2222 {host_pub('sshd2')}\n")  # the other host's key
    for accept in (False, True):  # opting in to unknown hosts never accepts a CHANGED key
        with pytest.raises(HostKeyRejected) as err:
            connect(spec(ssh_server, known_hosts=str(kh), accept_unknown=accept))
        msg = err.value.message
        assert "CHANGED" in msg and openssh_fingerprint("sshd") in msg and openssh_fingerprint("sshd2") in msg
        assert err.value.hint is not None and "ssh-keygen -R" in err.value.hint
    assert kh.read_text() == f"[127.0.0.1]:2222 {host_pub('sshd2')}\n"


def test_hashed_known_hosts_entry_verifies(ssh_server: dict[str, object], tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:2222 {host_pub('sshd')}\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(kh)], check=True, capture_output=True)
    assert kh.read_text().startswith("|1|")
    r = connect(spec(ssh_server, known_hosts=str(kh)))
    assert r.run(["echo", "ok"]).stdout == "ok\n"
    r.close()


def test_odd_known_hosts_lines_are_skipped_and_revoked_keys_refused(ssh_server: dict[str, object],
                                                                    tmp_path: Path) -> None:
    good = f"[127.0.0.1]:2222 {host_pub('sshd')}"
    kh = tmp_path / "known_hosts"
    kh.write_text("\n".join([
        "# a comment", "",
        f"@cert-authority *.example.com {host_pub('sshd2')}",
        "damaged.example ssh-ed25519 AAAA-not-base64",
        "other.example sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIA==",
        good, ""]))
    r = connect(spec(ssh_server, known_hosts=str(kh)))
    assert r.run(["echo", "ok"]).stdout == "ok\n"
    r.close()
    close_all()
    kh.write_text(f"{good}\n@revoked * {host_pub('sshd')}\n")  # revoked wins over known
    with pytest.raises(HostKeyRejected, match="revoked"):
        connect(spec(ssh_server, known_hosts=str(kh)))
    kh.write_text(f"@revoked * {host_pub('sshd')}\n")  # and is never trusted on first use
    with pytest.raises(HostKeyRejected, match="revoked"):
        connect(spec(ssh_server, known_hosts=str(kh), accept_unknown=True))
    assert "127.0.0.1" not in kh.read_text()


def test_accept_unknown_trusts_on_first_use_then_verifies(ssh_server: dict[str, object],
                                                          tmp_path: Path) -> None:
    kh = tmp_path / "sub" / "known_hosts"  # not even the directory exists yet
    r = connect(spec(ssh_server, known_hosts=str(kh), accept_unknown=True))
    assert r.run(["echo", "tofu"]).stdout == "tofu\n"
    r.close()
    assert kh.read_text() == f"[127.0.0.1]:2222 {host_pub('sshd')}\n"
    close_all()
    r = connect(spec(ssh_server, known_hosts=str(kh)))  # now strict mode knows the host
    assert r.run(["true"]).exit_code == 0
    r.close()
    # The recorded key now protects against a change: port 2223 presented under 2222's name.
    kh.write_text(kh.read_text().replace("[127.0.0.1]:2222", "[127.0.0.1]:2223"))
    with pytest.raises(HostKeyRejected, match="CHANGED"):
        connect(spec(ssh_server, port=2223, known_hosts=str(kh), accept_unknown=True))


def _write_new_key(path: Path) -> str:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                            serialization.NoEncryption()).decode()
    path.write_text(pem)
    path.chmod(0o600)
    return pem


def test_wrong_key_is_auth_failure_without_key_material(ssh_server: dict[str, object],
                                                        tmp_path: Path) -> None:
    pem = _write_new_key(tmp_path / "stranger")
    with pytest.raises(AuthFailed) as err:
        connect(spec(ssh_server, key_path=str(tmp_path / "stranger")))
    e = err.value
    assert e.exit_code == EXIT_BAD_INPUT and not e.retryable
    assert "authorized_keys" in (e.hint or "")
    body = "".join(pem.splitlines()[1:-1])
    shown = f"{e.message} {e.hint} {e!r}"
    assert body[:20] not in shown and "PRIVATE KEY" not in shown


def test_unusable_key_files(ssh_server: dict[str, object], tmp_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n")
    with pytest.raises(AuthFailed, match="cannot load SSH key file"):
        connect(spec(ssh_server, key_path=str(garbage)))
    with pytest.raises(AuthFailed, match="does not exist"):
        connect(spec(ssh_server, key_path=str(tmp_path / "absent")))
    key = Ed25519PrivateKey.generate()
    enc = tmp_path / "encrypted"
    enc.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                      serialization.BestAvailableEncryption(b"s3cret-pass")))
    with pytest.raises(AuthFailed, match="encrypted"):
        connect(spec(ssh_server, key_path=str(enc)))


def test_key_given_as_text(ssh_server: dict[str, object]) -> None:
    text = Path(str(ssh_server["key"])).read_text()
    s = spec(ssh_server, key_path=None, key_data=text)
    assert text not in repr(s)
    r = connect(s)
    assert r.run(["echo", "k"]).stdout == "k\n"
    r.close()


def test_env_refused_by_sshd_is_reported_not_silent(ssh_server: dict[str, object]) -> None:
    r = connect(spec(ssh_server))  # sshd here accepts only DR_* and DRO_*
    try:
        script = ["sh", "-c", 'printf "%s|%s" "$DR_OK" "$NOT_ACCEPTED_VAR"']
        for _ in range(2):  # the second time the answer comes from the per-connection cache
            res = r.run(script, env={"DR_OK": "1", "NOT_ACCEPTED_VAR": "x"})
            assert res.stdout == "1|" and res.env_refused == ("NOT_ACCEPTED_VAR",)
        with pytest.raises(EnvRejected) as err:
            r.run(["true"], env={"DR_OK": "1", "NOT_ACCEPTED_VAR": "x"}, strict_env=True)
        assert "NOT_ACCEPTED_VAR" in err.value.message and "AcceptEnv" in (err.value.hint or "")
        with pytest.raises(EnvRejected):  # a name never seen before, strict on the first try
            r.run(["true"], env={"OTHER_UNACCEPTED": "y"}, strict_env=True)
        assert r.run(["sh", "-c", "echo $DR_OK"], env={"DR_OK": "yes"}).env_refused == ()
    finally:
        r.close()


def test_unreachable_port_is_retryable(ssh_server: dict[str, object]) -> None:
    with pytest.raises(HostUnreachable) as err:
        connect(spec(ssh_server, port=1, connect_timeout=3.0))
    assert err.value.retryable and "127.0.0.1:1" in err.value.message


def test_dropped_connection_is_replaced(ssh_server: dict[str, object]) -> None:
    r = connect(spec(ssh_server))
    from dr_orchestrator.remote.ssh import SSHSession

    assert isinstance(r, SSHSession)
    first = r.connection
    first.client.close()  # as if the network dropped it between steps
    assert r.run(["echo", "again"]).stdout == "again\n"
    assert r.connection is not first
    r.close()


def test_connection_dropped_mid_command_is_an_error_not_an_exit_code(ssh_server: dict[str, object]) -> None:
    import threading

    from dr_orchestrator.remote.ssh import SSHSession

    r = connect(spec(ssh_server))
    assert isinstance(r, SSHSession)
    conn = r.connection
    threading.Timer(1.0, conn.client.close).start()  # the network drops during the command
    with pytest.raises(HostUnreachable, match="dropped while a command was running") as err:
        r.run(["sleep", "5"])
    assert err.value.retryable
    r.close()
