"""The `dro` typer app: the root command, lazy registration of the command modules, and
click's own errors (usage, abort) turned into exit codes. Loaded by cli/main.py for every
command line that cli/quick.py does not run by itself."""

from __future__ import annotations

import importlib

import typer
from click.exceptions import ClickException, UsageError

from dr_orchestrator import __version__
from dr_orchestrator.cli.quick import command_of
from dr_orchestrator.errors import EXIT_BAD_INPUT

# Each top-level command and the module of `dr_orchestrator.cli` that registers it, in the
# order `dro --help` lists them. A run imports only the module of the command it runs: the
# command modules import their areas (drill, repository, rich tables…), and paying for all
# of them on every start was a large share of a short command such as `dro plan`.
COMMANDS: dict[str, str] = {
    "validate": "runbook", "schema": "runbook",
    "plan": "plan", "graph": "plan",
    "storage": "storage",
    "repo": "repo", "backup": "repo", "snapshots": "repo", "ls": "repo", "diff": "repo",
    "restore": "repo", "verify": "repo", "forget": "repo", "prune": "repo", "unlock": "repo",
    "replicate": "replication", "repair": "replication", "status": "replication",
    "schedule": "replication",
    "failover": "execution", "rebuild": "execution", "failback": "execution",
    "resume": "execution", "runs": "execution", "show": "execution",
    "drill": "drill", "history": "drill",
    "terraform": "terraform",
}


def modules_for(args: list[str]) -> list[str]:
    """The module of the command in `args`, or every module (help, unknown command)."""
    command = command_of(args)
    return [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))


app = typer.Typer(
    name="dro",
    help=(
        "dr-orchestrator: disaster-recovery plans as code.\n\n"
        "Describe sites, data classes and services in a YAML runbook; `dro` validates and plans it, "
        "backs data up into an encrypted deduplicated repository, replicates it across regions and "
        "clouds, runs failover/rebuild/failback plans timed against RTO, and drills them from CI.\n\n"
        "Start with:  dro validate runbooks/quickstart.yaml  then  dro plan runbooks/quickstart.yaml"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dro {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """dr-orchestrator."""


def register(args: list[str]) -> None:
    for name in modules_for(args):
        importlib.import_module(f"dr_orchestrator.cli.{name}").register(app)


def run(args: list[str]) -> int:
    """Parse `args` with typer and run the command; its exit code. DRErrors pass through."""
    register(args)
    try:
        # standalone_mode=False makes click *return* the code of typer.Exit(n) instead of exiting.
        code = app(args=args, standalone_mode=False)
        return code if isinstance(code, int) else 0
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return 130
    except UsageError as exc:  # unknown option, missing argument, bad value: bad input
        exc.show()
        return EXIT_BAD_INPUT
    except ClickException as exc:
        exc.show()
        return exc.exit_code
