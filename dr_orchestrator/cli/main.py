"""Entry point of the `dro` command.

Each area registers its commands from its own module (`cli/runbook.py`,
`cli/storage.py`, …) with the typer app in `cli/root.py`; this file picks the modules a
command line needs, lets `cli/quick.py` run a plain `dro replicate` without typer, and
turns `DRError`s into a message, a hint and an exit code — never a traceback.
"""

from __future__ import annotations

import os
import sys

from dr_orchestrator.cli import quick
from dr_orchestrator.cli.common import render_error, render_issues
from dr_orchestrator.cli.quick import command_of
from dr_orchestrator.errors import DRError, ValidationFailed

# Commands that only read files and print. When one is done nothing is left to clean up,
# and tearing the interpreter down — freeing a 10,000-service runbook and its plan object by
# object — took ~0.15 s of a 1.5 s `dro plan`: they leave with os._exit once the output is
# flushed. Everything else exits normally (atexit handlers, locks, threads).
QUICK_EXIT = frozenset({"validate", "schema", "plan", "graph"})
# Commands that write, but whose work is over (synced, reported) when they return. Tearing
# the interpreter down took ~40 ms of a ~0.3 s incremental `dro replicate`. They run the
# atexit callbacks (logging's flush, pending weakref.finalize cleanups) and then leave with
# os._exit — only when no other thread and no child process is left to wait for.
QUICK_EXIT_WHEN_IDLE = frozenset({"replicate"})


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns (and exits with) the process exit code."""
    args = sys.argv[1:] if argv is None else argv
    try:
        return _run(args)
    except SystemExit as exc:
        command = command_of(args)
        if argv is None and isinstance(exc.code, int):
            if command in QUICK_EXIT:
                _quick_exit(exc.code)
            elif command in QUICK_EXIT_WHEN_IDLE and _idle():
                _quick_exit(exc.code, run_atexit=True)
        raise


def _idle() -> bool:
    """No other thread to join and no child process to wait for."""
    import threading

    mp = sys.modules.get("multiprocessing")
    return threading.active_count() == 1 and (mp is None or not mp.active_children())


def _quick_exit(code: int, *, run_atexit: bool = False) -> None:
    """os._exit(code) once stdout and stderr are flushed (returns if they cannot be)."""
    if run_atexit:
        import atexit

        atexit._run_exitfuncs()  # type: ignore[attr-defined]
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return  # e.g. a closed pipe: the normal exit path deals with it
    os._exit(code)


def _run(args: list[str]) -> int:
    try:
        code = quick.run(args)
        if code is None:  # everything but a plain `dro replicate`: the typer app
            from dr_orchestrator.cli import root

            code = root.run(args)
        if code:
            return _exit(code)
        sys.stdout.flush()  # here, where a reader that left is handled (below), not at exit
    except ValidationFailed as exc:
        render_issues(exc.issues)
        render_error(exc)
        return _exit(exc.exit_code)
    except DRError as exc:
        render_error(exc)
        return _exit(exc.exit_code)
    except KeyboardInterrupt:
        return _exit(130)
    except BrokenPipeError:  # `dro … --json | head -c0`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return _exit(1)  # as typer exits when a command it runs meets a closed pipe
    return _exit(0)


def _exit(code: int) -> int:
    sys.exit(code)


if __name__ == "__main__":
    main()
