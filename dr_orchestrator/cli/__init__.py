"""Typer commands: parse arguments, call `dr_orchestrator.app`, render, map errors to exit codes."""
