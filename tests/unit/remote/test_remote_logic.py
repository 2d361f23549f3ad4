"""Pure logic of the remote layer: quoting, host specs, line splitting, SFTP URLs."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dr_orchestrator.errors import BadInput
from dr_orchestrator.remote.base import HostSpec
from dr_orchestrator.remote.ssh import command_line
from dr_orchestrator.remote.stream import LineSplitter
from dr_orchestrator.storage.sftp import open_sftp_backend


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                        max_size=30), min_size=1, max_size=6))
def test_argv_survives_the_shell_unchanged(argv: list[str]) -> None:
    # What a POSIX shell would split the line into is exactly the argv we were given.
    assert shlex.split(command_line(argv)) == argv


def test_cwd_is_quoted_and_strings_are_the_runbooks_own() -> None:
    line = command_line(["ls"], cwd="/tmp/a b; rm -rf /")
    assert line == "cd -- '/tmp/a b; rm -rf /' || exit 1; ls"
    assert command_line("echo $HOME | wc -c") == "echo $HOME | wc -c"
    with pytest.raises(TypeError):
        command_line([])
    with pytest.raises(TypeError):
        command_line(["echo", 3])  # type: ignore[list-item]


def test_host_spec_from_mapping() -> None:
    spec = HostSpec.from_mapping({"host": "db1", "port": "2200", "user": "dr", "key": "~/.ssh/k",
                                  "accept_unknown": True, "key_passphrase": "s3cret"})
    assert (spec.address, spec.port, spec.user, spec.key_path, spec.accept_unknown) == (
        "db1", 2200, "dr", "~/.ssh/k", True)
    assert spec.display == "dr@db1:2200"
    assert "s3cret" not in repr(spec)
    with pytest.raises(BadInput, match="unknown host setting 'adress'"):
        HostSpec.from_mapping({"adress": "x"})
    assert HostSpec(local=True).display == "local"


def test_line_splitter_handles_split_utf8_crlf_and_pid_marker() -> None:
    seen: list[tuple[str, str]] = []
    pids: list[int] = []
    s = LineSplitter("stderr", lambda stream, line: seen.append((stream, line)), pid_sink=pids.append)
    data = "__dro_pid__=4242\nél\r\nlast".encode()
    for i in range(len(data)):  # one byte at a time: multi-byte characters split across chunks
        s.feed(data[i:i + 1])
    s.feed(b"", final=True)
    assert pids == [4242]
    assert seen == [("stderr", "él"), ("stderr", "last")]
    assert s.text() == "él\r\nlast"


def test_pid_marker_only_on_the_first_line() -> None:
    pids: list[int] = []
    s = LineSplitter("stderr", None, pid_sink=pids.append)
    s.feed(b"first\n__dro_pid__=1\n", final=True)
    assert pids == [] and s.text() == "first\n__dro_pid__=1\n"


def test_sftp_url_forms() -> None:
    b = open_sftp_backend("sftp://alice@backup.example:2022/srv/dr?known_hosts=/etc/kh", {"key": "file:/k"})
    assert (b.spec.address, b.spec.port, b.spec.user, b.root) == ("backup.example", 2022, "alice", "/srv/dr")
    assert (b.spec.key_path, b.spec.known_hosts, b.spec.accept_unknown) == ("/k", "/etc/kh", False)
    assert b.url == "sftp://alice@backup.example:2022/srv/dr"
    home = open_sftp_backend("sftp://bob@h/~/backups", {"accept_unknown_host_key": "true"})
    assert home.root == "backups" and home.spec.port == 22 and home.spec.accept_unknown
    assert open_sftp_backend("sftp://h", {}).root == "."
    with pytest.raises(BadInput, match="passwords"):
        open_sftp_backend("sftp://u:pw@h/x", {})
    with pytest.raises(BadInput):
        open_sftp_backend("sftp://h/x", {"connect_timeout": "soon"})
