"""PostgreSQL: `pg_dump -Fc` streamed straight into the repository, `pg_restore` back out.

No temp file on the way in: pg_dump's stdout is the stream the repository chunks. The
dump is taken uncompressed (`-Z 0`) on purpose: the repository compresses each chunk with
zstd anyway, and an uncompressed custom-format dump deduplicates day to day, where a
zlib-compressed one changes almost entirely after any change. A non-zero pg_dump exit
(bad database, lost connection) raises when the stream closes, which aborts the snapshot.

Restore streams the stored dump from `repo.open_file` into `pg_restore`'s stdin; parallel
restore (`jobs > 1`) needs a seekable file, so the dump is spooled to a private temp file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from dr_orchestrator.errors import BadInput
from dr_orchestrator.repository.streams import StreamSource
from dr_orchestrator.sources.pgconn import ConnInfo, parse_dsn
from dr_orchestrator.sources.process import copy_stream, find_tool, reading, run_checked, writing

INSTALL_HINT = "install the PostgreSQL client tools (Debian: apt-get install postgresql-client)"


def stream_name(database: str, source_name: str | None = None) -> str:
    """Where a database's dump lives inside a snapshot: `postgres/<db>.dump` by default."""
    return f"{source_name or 'postgres'}/{database}.dump"


def _tool_version(tool: str) -> str:
    with contextlib.suppress(Exception):
        return run_checked([tool, "--version"], what=f"{tool} --version", timeout=10).strip()
    return "unknown"


def dump_source(dsn: str, database: str | None = None, *, source_name: str | None = None,
                extra_args: tuple[str, ...] = ()) -> StreamSource:
    """A StreamSource running `pg_dump -Fc -Z 0` against `database` (default: the DSN's)."""
    info = parse_dsn(dsn)
    if database:
        info = info.with_database(database)
    if not info.database:
        raise BadInput(f"no database to dump for PostgreSQL source at {info.display()}",
                       "name it in the DSN (…/dbname) or list it under `databases:`")
    pg_dump = find_tool("pg_dump", INSTALL_HINT)
    db = info.database
    argv = [pg_dump, "--format=custom", "--compress=0", "--no-password",
            f"--dbname={info.conninfo()}", *extra_args]

    @contextlib.contextmanager
    def open_stream() -> Iterator[BinaryIO]:
        with reading(argv, what=f"pg_dump of {info.display()}", env=info.env(), secrets=info.secrets(),
                     hint="check the database name, the server and the credentials") as out:
            yield out

    metadata = {"source": "postgres", "database": db, "format": "pg_dump-custom",
                "server": info.display(), "tool": _tool_version(pg_dump)}
    return StreamSource(name=stream_name(db, source_name), open=open_stream, metadata=metadata)


@dataclass(frozen=True)
class RestoreOptions:
    clean: bool = False  # --clean --if-exists: drop existing objects first
    jobs: int = 1  # > 1: parallel restore from a spooled temp file
    single_transaction: bool = True  # jobs == 1 only: all or nothing
    create: bool = False  # --create: the target DSN names a maintenance db (e.g. postgres)
    spool_dir: str | None = None  # where jobs > 1 spools the dump (default: TMPDIR)


def _restore_argv(info: ConnInfo, opts: RestoreOptions, file: str | None) -> list[str]:
    argv = [find_tool("pg_restore", INSTALL_HINT), "--no-owner", "--no-password",
            f"--dbname={info.conninfo()}"]
    if opts.clean:
        argv += ["--clean", "--if-exists"]
    if opts.create:
        argv.append("--create")
    if opts.jobs > 1:
        argv.append(f"--jobs={opts.jobs}")
    elif opts.single_transaction:
        argv.append("--single-transaction")
    if file is not None:
        argv.append(file)
    return argv


def restore_stream(dump: BinaryIO, target_dsn: str, opts: RestoreOptions | None = None) -> int:
    """Feed a custom-format dump (any readable stream) into pg_restore; returns bytes fed."""
    opts = opts or RestoreOptions()
    if opts.jobs < 1:
        raise BadInput("restore jobs must be at least 1")
    info = parse_dsn(target_dsn)
    what = f"pg_restore into {info.display()}"
    hint = "check that the target database exists and is reachable; use clean=True to replace objects"
    if opts.jobs == 1:
        with writing(_restore_argv(info, opts, None), what=what, env=info.env(),
                     secrets=info.secrets(), hint=hint) as stdin:
            return copy_stream(dump, stdin)
    fd, spool = tempfile.mkstemp(prefix="dro-pgrestore-", suffix=".dump", dir=opts.spool_dir)
    try:
        with os.fdopen(fd, "wb") as f:  # mkstemp: mode 0600, only we can read the spooled dump
            size = copy_stream(dump, f)
        run_checked(_restore_argv(info, opts, spool), what=what, env=info.env(),
                    secrets=info.secrets(), hint=hint)
        return size
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(spool)


def restore_from_repository(repo: Any, snapshot: Any, path: str, target_dsn: str,
                            opts: RestoreOptions | None = None) -> int:
    """Restore the dump stored at `path` in `snapshot` into `target_dsn` (read verified)."""
    with repo.open_file(snapshot, path) as dump:
        return restore_stream(dump, target_dsn, opts)
