"""The remote Runner contract, on the real sshd (127.0.0.1:2222/2223) and on this machine.

`RunnerContract` holds what every runner must do (exit codes, separate stderr, live
line streaming, env, stdin, timeouts that kill, argv that cannot inject, files);
`TestSSHRunner` and `TestLocalRunner` join it. sshd runs on this machine, so the
tests check for side effects (marker files, leftover processes) directly.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from dr_orchestrator.remote import CommandTimeout, HostSpec, RemoteFileError, Runner, close_all, connect


def ssh_spec(server: dict[str, object], port_index: int = 0, **kw: object) -> HostSpec:
    ports = server["ports"]
    assert isinstance(ports, tuple)
    values: dict[str, object] = {"address": "127.0.0.1", "port": ports[port_index], "user": "root",
                                 "key_path": server["key"], "known_hosts": server["known_hosts"],
                                 "connect_timeout": 10.0}
    values.update(kw)
    return HostSpec(**values)  # type: ignore[arg-type]


def wait_gone(token: str, seconds: float = 5.0) -> list[str]:
    """Command lines of processes still mentioning `token` after up to `seconds`."""
    end = time.monotonic() + seconds
    while True:
        left = []
        for p in psutil.process_iter(["cmdline"]):
            cmd = " ".join(p.info["cmdline"] or ())
            if token in cmd and "pytest" not in cmd:
                left.append(cmd)
        if not left or time.monotonic() > end:
            return left
        time.sleep(0.1)


class RunnerContract:
    @pytest.fixture
    def runner(self) -> Iterator[Runner]:
        raise NotImplementedError

    def test_exit_codes_and_separate_stderr(self, runner: Runner) -> None:
        ok = runner.run(["true"])
        assert ok.exit_code == 0 and ok.ok
        r = runner.run("echo out; echo err >&2; exit 3")
        assert (r.exit_code, r.stdout, r.stderr) == (3, "out\n", "err\n")
        assert not r.ok
        missing = runner.run(["dro-no-such-command-xyz"])
        assert missing.exit_code == 127
        assert "dro-no-such-command-xyz" in missing.stderr and missing.stdout == ""
        assert r.duration >= 0

    def test_lines_stream_live(self, runner: Runner) -> None:
        seen: list[tuple[float, str, str]] = []
        script = "echo first; sleep 0.8; echo second >&2; sleep 0.8; printf 'last-no-newline'"
        r = runner.run(script, on_line=lambda stream, line: seen.append((time.monotonic(), stream, line)))
        done = time.monotonic()
        assert [(s, line) for _, s, line in seen] == [("stdout", "first"), ("stderr", "second"),
                                                       ("stdout", "last-no-newline")]
        assert done - seen[0][0] > 1.0, "the first line arrived only at the end"
        assert r.stdout == "first\nlast-no-newline" and r.stderr == "second\n"

    def test_failing_callback_does_not_hang_the_command(self, runner: Runner) -> None:
        def boom(stream: str, line: str) -> None:
            raise RuntimeError("callback broke")

        with pytest.raises(RuntimeError, match="callback broke"):
            runner.run("seq 1 100000; seq 1 100000 >&2", on_line=boom, timeout=60)

    def test_env_passthrough(self, runner: Runner) -> None:
        r = runner.run(["sh", "-c", 'printf "%s|%s" "$DR_SITE" "$DRO_RUN_ID"'],
                       env={"DR_SITE": "west; echo injected", "DRO_RUN_ID": "r-42"})
        assert r.stdout == "west; echo injected|r-42"

    def test_stdin_bytes_and_stream(self, runner: Runner) -> None:
        assert runner.run(["cat"], stdin=b"hello\nworld").stdout == "hello\nworld"
        data = os.urandom(5 << 20)
        r = runner.run(["sha256sum"], stdin=io.BytesIO(data))
        assert r.stdout.split()[0] == hashlib.sha256(data).hexdigest()

    def test_big_output_does_not_deadlock(self, runner: Runner) -> None:
        lines: list[str] = []
        r = runner.run("seq 1 200000; seq 1 50000 >&2", on_line=lambda s, line: lines.append(line))
        assert r.exit_code == 0
        assert r.stdout.count("\n") == 200000 and r.stderr.count("\n") == 50000
        assert len(lines) == 250000

    def test_timeout_kills_the_command(self, runner: Runner, tmp_path: Path) -> None:
        token = f"dro-timeout-{uuid.uuid4().hex}"
        marker = tmp_path / "should-not-exist"
        start = time.monotonic()
        with pytest.raises(CommandTimeout) as err:
            runner.run(["sh", "-c", f"echo started; sleep 5; touch {marker}; : {token}"], timeout=2)
        assert time.monotonic() - start < 10
        assert "was killed" in err.value.message
        assert err.value.partial is not None and err.value.partial.exit_code == -1
        assert wait_gone(token) == []
        time.sleep(max(0.0, start + 6 - time.monotonic()))  # past the sleep: the touch must never run
        assert not marker.exists()

    def test_argv_cannot_inject(self, runner: Runner, tmp_path: Path) -> None:
        m = tmp_path / "pwned"
        evil = [f"; touch {m}1", f"$(touch {m}2)", f"`touch {m}3`", f"| touch {m}4", f"&& touch {m}5",
                f"\ntouch {m}6", f"'; touch {m}7; '", f'"; touch {m}8; "', "; rm -rf /tmp/x"]
        r = runner.run(["printf", "%s\\n", *evil])
        assert r.exit_code == 0
        assert r.stdout.split("\n")[:-1] == "\n".join(evil).split("\n")
        assert sorted(p.name for p in tmp_path.iterdir()) == []
        # cwd is quoted too
        odd = tmp_path / "dir with $(touch pwned9) and ;"
        odd.mkdir()
        assert runner.run(["pwd"], cwd=str(odd)).stdout.strip() == str(odd)
        assert not (tmp_path / "pwned9").exists() and not Path("pwned9").exists()

    def test_cwd_missing_fails(self, runner: Runner, tmp_path: Path) -> None:
        r = runner.run(["pwd"], cwd=str(tmp_path / "absent"))
        assert r.exit_code != 0

    def test_files_round_trip(self, runner: Runner, tmp_path: Path) -> None:
        src = tmp_path / "src.bin"
        src.write_bytes(os.urandom(300_000))
        remote = tmp_path / "remote" / "copy.bin"
        remote.parent.mkdir()
        runner.put_file(str(src), str(remote), mode=0o640)
        assert remote.read_bytes() == src.read_bytes()
        assert remote.stat().st_mode & 0o777 == 0o640
        back = tmp_path / "back.bin"
        runner.get_file(str(remote), str(back))
        assert back.read_bytes() == src.read_bytes()
        with runner.open_file(str(tmp_path / "streamed"), "wb") as f:
            for _ in range(4):
                f.write(b"x" * 100_000)
        with runner.open_file(str(tmp_path / "streamed"), "rb") as f:
            assert f.read() == b"x" * 400_000
        assert [p.name for p in remote.parent.iterdir()] == ["copy.bin"]  # no temp file left

    def test_file_errors_are_clear(self, runner: Runner, tmp_path: Path) -> None:
        src = tmp_path / "f"
        src.write_bytes(b"x")
        with pytest.raises(RemoteFileError, match="writing"):
            runner.put_file(str(src), str(tmp_path / "no-such-dir" / "f"))
        with pytest.raises(RemoteFileError, match="reading"):
            runner.get_file(str(tmp_path / "absent"), str(tmp_path / "back"))
        with pytest.raises(RemoteFileError, match="opening"):
            runner.open_file(str(tmp_path / "absent"), "rb")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]

    def test_parallel_file_transfers(self, runner: Runner, tmp_path: Path) -> None:
        blobs = {i: os.urandom(200_000 + i) for i in range(10)}
        for i, b in blobs.items():
            (tmp_path / f"in{i}").write_bytes(b)

        def one(i: int) -> None:
            runner.put_file(str(tmp_path / f"in{i}"), str(tmp_path / f"out{i}"))
            runner.get_file(str(tmp_path / f"out{i}"), str(tmp_path / f"back{i}"))

        threads = [threading.Thread(target=one, args=(i,)) for i in blobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert {i: (tmp_path / f"back{i}").read_bytes() for i in blobs} == blobs

    def test_parallel_commands(self, runner: Runner) -> None:
        results: dict[int, str] = {}

        def one(i: int) -> None:
            results[i] = runner.run(["sh", "-c", f"sleep 0.2; echo {i}"]).stdout

        threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]  # > 8 channels
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert results == {i: f"{i}\n" for i in range(12)}


class TestSSHRunner(RunnerContract):
    @pytest.fixture
    def runner(self, ssh_server: dict[str, object]) -> Iterator[Runner]:
        r = connect(ssh_spec(ssh_server))
        yield r
        r.close()

    def test_connection_is_pooled(self, ssh_server: dict[str, object], tmp_path: Path) -> None:
        from dr_orchestrator.remote.ssh import SSHSession

        a, b = connect(ssh_spec(ssh_server)), connect(ssh_spec(ssh_server))
        other = connect(ssh_spec(ssh_server, port_index=1))
        assert isinstance(a, SSHSession) and isinstance(b, SSHSession) and isinstance(other, SSHSession)
        assert a.connection is b.connection
        assert other.connection is not a.connection
        # A different host-key policy never shares a connection.
        kh = tmp_path / "kh"
        kh.write_text(Path(str(ssh_server["known_hosts"])).read_text())
        c = connect(ssh_spec(ssh_server, known_hosts=str(kh)))
        assert isinstance(c, SSHSession) and c.connection is not a.connection
        assert b.run(["echo", "shared"]).stdout == "shared\n"
        for r in (a, b, other, c):
            r.close()
        close_all()

    def test_second_host(self, ssh_server: dict[str, object]) -> None:
        r = connect(ssh_spec(ssh_server, port_index=1))
        try:
            assert r.run(["echo", "two"]).stdout == "two\n"
        finally:
            r.close()


class TestLocalRunner(RunnerContract):
    @pytest.fixture
    def runner(self) -> Iterator[Runner]:
        r = connect(HostSpec(local=True, name="here"))
        yield r
        r.close()


def test_connect_from_mapping(ssh_server: dict[str, object]) -> None:
    spec = {"host": "127.0.0.1", "port": str(ssh_server["ports"][0]), "user": "root",  # type: ignore[index]
            "key": ssh_server["key"], "known_hosts": ssh_server["known_hosts"]}
    r = connect(spec)
    try:
        assert r.run(["hostname"]).exit_code == 0
    finally:
        r.close()


@pytest.fixture(autouse=True, scope="module")
def _close_pool() -> Iterator[None]:
    yield
    close_all()

