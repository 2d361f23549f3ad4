"""`dro terraform export|check`: the runbook drives the DR storage Terraform modules."""

from __future__ import annotations

import typer

from dr_orchestrator.cli import common
from dr_orchestrator.cli.common import print_json

tf_app = typer.Typer(
    help=(
        "Keep Terraform-managed DR storage in line with the runbook.\n\n"
        "  dro terraform export runbooks/aws-multi-region.yaml --provider aws --out terraform/examples/aws\n"
        "  terraform -chdir=terraform/examples/aws apply && terraform -chdir=terraform/examples/aws "
        "output -json > out.json\n"
        "  dro terraform check runbooks/aws-multi-region.yaml --outputs out.json"
    ),
    no_args_is_help=True,
)


@tf_app.command("export")
def export_cmd(
    runbook: str = typer.Argument(..., help="Runbook YAML file."),
    provider: str = typer.Option(..., "--provider", help="aws, gcp or azure."),
    out: str = typer.Option(..., "--out", help="Directory to write dro.auto.tfvars.json into."),
    pair: str | None = typer.Option(None, "--pair", help="PRIMARY:RECOVERY site pair when there are several."),
    json_out: bool = typer.Option(False, "--json", help="Print the variables as JSON."),
) -> None:
    """Write *.auto.tfvars.json for terraform/modules/<provider>-dr-storage from the runbook."""
    from dr_orchestrator.app import terraform as uc

    path, data = uc.export(runbook, provider, out, pair)
    if json_out:
        print_json({"file": str(path), "variables": data})
        return
    common.console.print(f"wrote [bold]{path}[/] ({data['primary_site']} → {data['recovery_site']}, "
                         f"{len(data['data_classes'])} data class(es))")


@tf_app.command("check")
def check_cmd(
    runbook: str = typer.Argument(..., help="Runbook YAML file."),
    outputs: str = typer.Option(..., "--outputs", help="File with `terraform output -json`."),
    json_out: bool = typer.Option(False, "--json", help="Print drift as JSON."),
) -> None:
    """Compare Terraform outputs with the runbook; exit 1 on any drift (bucket, region, lock days)."""
    from dr_orchestrator.app import terraform as uc

    drift = uc.check(runbook, outputs)
    if json_out:
        print_json({"drift": [d.to_dict() for d in drift], "ok": not drift})
    elif drift:
        common.console.print(f"[red]drift: {len(drift)} difference(s) between the runbook and Terraform[/]")
        for d in drift:
            common.console.print(f"  {d.render()}", highlight=False, markup=False)
    else:
        common.console.print("[green]no drift:[/] Terraform outputs match the runbook")
    if drift:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `dro terraform …`."""
    app.add_typer(tf_app, name="terraform")
