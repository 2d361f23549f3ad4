"""`dro replicate …` without loading typer and click: the command cron runs most often.

Every scheduled replication (crontab lines, systemd timers, Kubernetes CronJobs: see
`dro schedule export`) starts a new `dro`. For an incremental run between two directories
the whole run takes ~0.2 s here, and importing typer and click and building their
command took ~60 ms on top of it (BENCHMARKS.md). So `main()` first offers the command
line to `run()` below:

- a plain `dro replicate` command line — only the options below, each well formed — is
  parsed here and goes straight to the command's body (cli/replication_run.py), the same
  function the typer command calls;
- anything else returns None and goes to typer as before: `--help`, an unknown or
  misspelt option, a missing or bad value (typer's message names the option), `--`,
  a separate value that itself starts with '-' (`--to -x`; `--to=-x` is read here, as
  click reads it), a short option with `=` (`-c=db`: click's value is "=db"), a second
  positional argument. So typer stays the only judge of bad input and the only author of
  help and usage errors.

The table below must say what cli/replication.py declares; tests/unit/test_cli_quick.py
compares the two option by option and parses sample command lines both ways.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

FLAG, VALUE, INT, MULTI = "flag", "value", "int", "multi"


# NamedTuples, not dataclasses: a dataclass costs ~0.7 ms to define here, a third of a
# module's import time; this module is loaded on every `dro` start.
class Option(NamedTuple):
    names: tuple[str, ...]
    dest: str  # the body's parameter
    kind: str  # FLAG (no value), VALUE (a string), INT, MULTI (a string, repeatable)


class Command(NamedTuple):
    options: tuple[Option, ...]
    arguments: tuple[str, ...]  # optional positional parameters, in order
    defaults: dict[str, Any]

    def by_name(self) -> dict[str, Option]:
        return {name: opt for opt in self.options for name in opt.names}


REPLICATE = Command(
    options=(
        Option(("--data-class", "-c"), "data_class", VALUE),
        Option(("--to",), "to", MULTI),
        Option(("--from",), "from_url", VALUE),
        Option(("--bandwidth-limit",), "bandwidth", VALUE),
        Option(("--dry-run",), "dry_run", FLAG),
        Option(("--workers",), "workers", INT),
        Option(("--verify",), "verify", VALUE),
        Option(("--deep",), "deep", FLAG),
        Option(("--keep-deleted",), "keep_deleted", FLAG),
        Option(("--json",), "as_json", FLAG),
    ),
    arguments=("runbook",),
    defaults={"runbook": None, "data_class": None, "to": [], "from_url": None, "bandwidth": None,
              "dry_run": False, "workers": 8, "verify": "content", "deep": False, "keep_deleted": False,
              "as_json": False},
)


def parse(args: list[str], command: Command) -> dict[str, Any] | None:
    """The parameters `args` give, as typer would pass them; None for anything this reader
    leaves to typer (see the module docstring)."""
    params = {k: list(v) if isinstance(v, list) else v for k, v in command.defaults.items()}
    options = command.by_name()
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            continue
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        opt = options.get(name)  # click splits `=` off long options only: `-c=db` is typer's
        if opt is None:
            return None
        if opt.kind == FLAG:
            if eq:
                return None
            params[opt.dest] = True
            continue
        if not eq:
            if i == len(args) or args[i].startswith("-"):
                return None
            value = args[i]
            i += 1
        if opt.kind == MULTI:
            params[opt.dest].append(value)
        elif opt.kind == INT:
            try:
                params[opt.dest] = int(value)  # as click's INT type converts
            except ValueError:
                return None
        else:
            params[opt.dest] = value
    if len(positional) > len(command.arguments):
        return None
    params.update(zip(command.arguments, positional, strict=False))
    return params


def command_of(args: list[str]) -> str | None:
    """The command word of a `dro` command line (the first argument not an option)."""
    return next((a for a in args if not a.startswith("-")), None)


def _replicate(params: dict[str, Any]) -> None:
    from dr_orchestrator.cli.replication_run import replicate

    replicate(**params)


QUICK: dict[str, tuple[Command, Callable[[dict[str, Any]], None]]] = {"replicate": (REPLICATE, _replicate)}


def run(args: list[str]) -> int | None:
    """Run a command line this module can read (its exit code: 0, or a DRError raised);
    None when typer must read it."""
    if not args or args[0] not in QUICK:
        return None
    command, body = QUICK[args[0]]
    params = parse(args[1:], command)
    if params is None:
        return None
    body(params)
    return 0
