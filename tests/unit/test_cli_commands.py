"""The lazy command table of `dro` (cli/root.COMMANDS) matches what the modules register."""

from __future__ import annotations

import importlib

import typer

from dr_orchestrator.cli import root


def registered_by(module: str) -> set[str]:
    app = typer.Typer()
    importlib.import_module(f"dr_orchestrator.cli.{module}").register(app)
    app.command("_placeholder")(lambda: None)  # a group, even for a module with one command
    return set(typer.main.get_command(app).commands) - {"_placeholder"}  # type: ignore[attr-defined]


def test_every_command_is_in_the_table_with_the_module_that_registers_it() -> None:
    modules = set(root.COMMANDS.values())
    by_module = {module: registered_by(module) for module in modules}
    for module, commands in by_module.items():
        assert commands, module
        for command in commands:
            assert root.COMMANDS.get(command) == module, f"{command!r} (registered by cli/{module}.py)"
    listed = {command for commands in by_module.values() for command in commands}
    assert set(root.COMMANDS) == listed  # no stale entries either


def test_a_run_registers_only_its_command_module_and_help_registers_all() -> None:
    everything = list(dict.fromkeys(root.COMMANDS.values()))
    assert root.modules_for(["plan", "x.yaml", "--format", "json"]) == ["plan"]
    assert root.modules_for(["--version"]) == everything
    assert root.modules_for(["--help"]) == everything
    assert root.modules_for([]) == everything
    assert root.modules_for(["no-such-command"]) == everything
