"""`dro storage ls|cat|check`: see what is in a storage location and whether it works."""

from __future__ import annotations

import sys

import typer

from dr_orchestrator.cli import common
from dr_orchestrator.cli.common import print_json
from dr_orchestrator.errors import StorageError

OPTION_HELP = ("storage option NAME=VALUE (repeatable): region, endpoint, timeout, …; secrets as "
               "NAME=env:VAR or NAME=file:PATH")


def register(app: typer.Typer) -> None:
    """Add the `storage` command group to the root app."""
    storage_app = typer.Typer(name="storage", no_args_is_help=True,
                              help="Look into a storage location (file://, s3://, gs://, az://, sftp://).")
    app.add_typer(storage_app, name="storage")

    @storage_app.command("ls")
    def ls_cmd(
        url: str = typer.Argument(..., help="location URL, e.g. s3://bucket/prefix?region=eu-west-1"),
        prefix: str = typer.Argument("", help="only keys starting with this"),
        option: list[str] = typer.Option([], "--option", "-o", help=OPTION_HELP),
        as_json: bool = typer.Option(False, "--json", help="one JSON document on stdout"),
    ) -> None:
        """List the objects under PREFIX (size, modification time, key)."""
        from dr_orchestrator.app import storage as app_storage

        objects = app_storage.list_objects(url, prefix, app_storage.parse_options(option))
        if as_json:
            print_json([{"key": o.key, "size": o.size,
                         "modified": o.modified.isoformat() if o.modified else None,
                         "etag": o.etag, "checksums": o.checksums} for o in objects])
            return
        count = total = 0
        for o in objects:
            when = o.modified.strftime("%Y-%m-%d %H:%M:%S") if o.modified else "-"
            typer.echo(f"{o.size:>14,}  {when}  {o.key}")
            count += 1
            total += o.size
        common.console.print(f"{count} object(s), {total:,} bytes", style="dim", highlight=False)

    @storage_app.command("cat")
    def cat_cmd(
        url: str = typer.Argument(..., help="location URL"),
        key: str = typer.Argument(..., help="object key, relative to the URL's prefix"),
        offset: int = typer.Option(0, "--offset", min=0, help="first byte to print"),
        length: int | None = typer.Option(None, "--length", min=0, help="bytes to print (default: to the end)"),
        option: list[str] = typer.Option([], "--option", "-o", help=OPTION_HELP),
        as_json: bool = typer.Option(False, "--json", help="print {key, bytes, text|base64} instead of raw bytes"),
    ) -> None:
        """Write one object's bytes (or a range) to stdout."""
        import base64
        import io

        from dr_orchestrator.app import storage as app_storage

        opts = app_storage.parse_options(option)
        if not as_json:
            app_storage.cat_object(url, key, sys.stdout.buffer, opts, offset=offset, length=length)
            sys.stdout.buffer.flush()
            return
        buf = io.BytesIO()
        n = app_storage.cat_object(url, key, buf, opts, offset=offset, length=length)
        data = buf.getvalue()
        try:
            body: dict[str, str] = {"text": data.decode("utf-8")}
        except UnicodeDecodeError:
            body = {"base64": base64.b64encode(data).decode()}
        print_json({"key": key, "offset": offset, "bytes": n, **body})

    @storage_app.command("check")
    def check_cmd(
        url: str = typer.Argument(..., help="location URL"),
        option: list[str] = typer.Option([], "--option", "-o", help=OPTION_HELP),
        as_json: bool = typer.Option(False, "--json", help="one JSON document on stdout"),
    ) -> None:
        """Check a location with the configured credentials: reachable, list, write, read, stat, delete.

        Writes a small probe object under .dro-check/ (create-only) and deletes it again.
        Exit code 0 when every step passed, else the failing step's code (4: unavailable
        or access denied, 2: bad URL/options).
        """
        from dr_orchestrator.app import storage as app_storage

        report = app_storage.check_location(url, app_storage.parse_options(option))
        if as_json:
            print_json(report.to_dict())
        else:
            for s in report.steps:
                mark = "[green]ok[/]  " if s.ok else "[bold red]FAIL[/]"
                common.console.print(f"{mark} {s.name:<7} {s.seconds * 1000:8.1f} ms  ", end="", highlight=False)
                common.console.print(s.detail, markup=False, highlight=False, soft_wrap=True)
                if s.hint and not s.ok:
                    common.console.print(f"       hint: {s.hint}", markup=False, highlight=False, soft_wrap=True)
            if report.capabilities:
                caps = ", ".join(f"{k}={v}" for k, v in report.capabilities.items())
                common.console.print(f"capabilities: {caps}", style="dim", highlight=False, markup=False,
                                     soft_wrap=True)
            style = "green" if report.ok else "bold red"
            common.console.print(report.diagnosis, style=style, highlight=False, markup=False, soft_wrap=True)
        if not report.ok:
            # A DRError (not typer.Exit) so main() exits with the failing step's code.
            err = StorageError(report.diagnosis, next((s.hint for s in report.steps if not s.ok), None))
            err.exit_code = report.exit_code or 1
            raise err
