"""The runbook language (v1) as pydantic models.

These models are the single source of truth: the loader validates YAML against them,
`dro schema` exports their JSON Schema and docs/runbook-reference.md documents every
field (a test keeps the two in step). Every model forbids unknown keys so a typo is an
error, never a silently ignored setting.

Host references (`host:` on steps and sources) are `HOST` (resolved at the site the
action runs at, see `Runbook.action_site`) or `SITE/HOST`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from dr_orchestrator.runbook.durations import Duration
from dr_orchestrator.runbook.secrets import SecretRef

API_VERSION = "dr-orchestrator/v1"
Action = Literal["failover", "failback", "rebuild"]
ACTIONS: tuple[str, ...] = ("failover", "failback", "rebuild")
Provider = Literal["local", "aws", "gcp", "azure", "sftp", "onprem"]
OnFailure = Literal["abort", "continue", "rollback"]
Scalar = str | int | float | bool
Position = tuple[str, int, int]  # (file, line, column), 1-based



# One argv element or env value; YAML numbers are accepted and kept as their text: [sleep, 5]
# means ["sleep", "5"]. (Coerced inside pydantic-core: no Python call per argument.)
Arg = Annotated[str, Field(coerce_numbers_to_str=True)]

# Used when a step gives no `estimate` (and is not a wait/check whose length is known).
DEFAULT_STEP_ESTIMATE = timedelta(seconds=60)


class Model(BaseModel):
    # defer_build: a model's validator is built on first use (forward references such as a
    # step's `rollback: list[Step]` resolve then), so a command pays only for the models it uses.
    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, validate_default=False, arbitrary_types_allowed=False,
        defer_build=True,
    )


# --- sites ----------------------------------------------------------------------


class Host(Model):
    """A machine steps run on: over SSH, or as local processes when `local: true`."""

    address: str = Field(default="127.0.0.1", description="DNS name or IP address")
    port: int = Field(default=22, ge=1, le=65535, description="SSH port")
    user: str = Field(default="root", description="SSH user")
    key: SecretRef | None = Field(default=None, description="private key: file:PATH or env:NAME")
    known_hosts: str | None = Field(
        default=None, description="known_hosts file path (relative to the runbook)"
    )
    insecure_accept_unknown_host_key: bool = Field(
        default=False, description="accept an unknown host key (never in production)"
    )
    local: bool = Field(default=False, description="run commands as local processes instead of SSH")


class SiteDrillOverrides(Model):
    """What a drill changes so it never touches production at this site."""

    storage: str | None = Field(default=None, description="alternate storage location URL for drills")
    storage_prefix: str | None = Field(
        default=None, description="prefix appended to the site's storage for drills"
    )
    storage_options: dict[str, str] = Field(default_factory=dict)
    hosts: dict[str, Host] = Field(default_factory=dict, description="hosts replaced during drills")
    ports: dict[int, int] = Field(default_factory=dict, description="production port -> drill port")
    paths: dict[str, str] = Field(default_factory=dict, description="production path prefix -> drill path")
    databases: dict[str, str] = Field(
        default_factory=dict, description="production database -> drill database"
    )


class Site(Model):
    """A region/cloud/data centre: where data is stored and services run."""

    provider: Provider = "local"
    region: str | None = None
    role: Literal["primary", "recovery"] = "primary"
    storage: str = Field(description="repository location URL: file://, s3://, gs://, az://, sftp://")
    storage_options: dict[str, str] = Field(
        default_factory=dict, description="backend options; credentials only as env:/file: references"
    )
    hosts: dict[str, Host] = Field(default_factory=dict)
    drill: SiteDrillOverrides | None = None


# --- data classes -----------------------------------------------------------------


class Retention(Model):
    keep_last: int | None = Field(default=None, ge=0)
    keep_hourly: int | None = Field(default=None, ge=0)
    keep_daily: int | None = Field(default=None, ge=0)
    keep_weekly: int | None = Field(default=None, ge=0)
    keep_monthly: int | None = Field(default=None, ge=0)
    keep_yearly: int | None = Field(default=None, ge=0)
    keep_within: Duration | None = None


class PathsSource(Model):
    type: Literal["paths"]
    name: str | None = None
    host: str | None = Field(default=None, description="host reference; default: local")
    path: str
    exclude: list[str] = Field(default_factory=list, description="glob patterns")


class PostgresSource(Model):
    type: Literal["postgres"]
    name: str | None = None
    host: str | None = None
    dsn: SecretRef | str = Field(description="env:/file: reference, or a DSN without a password")
    databases: list[str] = Field(default_factory=list, description="default: the DSN's database")


class SqliteSource(Model):
    type: Literal["sqlite"]
    name: str | None = None
    host: str | None = None
    path: str


class CommandSource(Model):
    type: Literal["command"]
    name: str
    host: str | None = None
    command: list[Arg] = Field(min_length=1, description="argv whose stdout is backed up")


Source = Annotated[PathsSource | PostgresSource | SqliteSource | CommandSource, Field(discriminator="type")]


class DataClass(Model):
    """A set of data with one RPO, schedule, retention and replication policy."""

    description: str | None = None
    rpo: Duration
    rto: Duration | None = None
    schedule: str = Field(description="backup schedule, 5-field cron")
    retention: Retention = Field(default_factory=lambda: Retention())
    source_site: str
    replicate_to: list[str] = Field(default_factory=list)
    immutable_for: Duration | None = None
    verify_before_replicate: bool = False
    sources: list[Source] = Field(min_length=1)


# --- steps -----------------------------------------------------------------------


class StepBase(Model):
    kind: str
    name: str | None = None
    timeout: Duration = timedelta(minutes=30)
    retries: int = Field(default=0, ge=0)
    retry_delay: Duration = timedelta(seconds=10)
    estimate: Duration | None = Field(default=None, description="expected duration, used by the planner")
    on_failure: OnFailure = "abort"
    rollback: list[Step] | None = Field(
        default=None, description="steps undoing this one, or one command (string or argv list)"
    )

    @model_validator(mode="before")
    @classmethod
    def _rollback_shorthand(cls, data: Any) -> Any:
        """`rollback: "cmd"` or `rollback: [argv…]`: one command, over SSH on the step's host
        (ssh/restore/check steps with a host), else as a local process."""
        if not isinstance(data, dict):
            return data
        rollback = data.get("rollback")
        is_argv = isinstance(rollback, list) and rollback and all(
            isinstance(a, str | int | float) and not isinstance(a, bool) for a in rollback)
        if isinstance(rollback, str) or is_argv:
            data = dict(data)
            if data.get("host") and data.get("kind") in ("ssh", "restore", "check"):
                data["rollback"] = [{"kind": "ssh", "host": data["host"], "command": rollback}]
            else:
                data["rollback"] = [{"kind": "shell", "command": rollback}]
        return data

    def label(self) -> str:
        return self.name or self.kind

    def expected_duration(self) -> timedelta:
        """What the planner counts for this step."""
        return self.estimate if self.estimate is not None else DEFAULT_STEP_ESTIMATE


class RestoreStep(StepBase):
    kind: Literal["restore"]
    data_class: str
    target: SecretRef | str = Field(description="directory, file path or DSN (reference) to restore into")
    host: str | None = None
    snapshot: str = Field(
        default="latest", description="'latest', a snapshot id, or an ISO time (latest before it)"
    )
    source: str | None = Field(default=None, description="only this source of the data class (by name)")
    from_site: str | None = Field(
        default=None,
        description="site whose repository to restore from; default: the site the action runs at",
    )


class SshStep(StepBase):
    kind: Literal["ssh"]
    host: str
    command: str | list[Arg]


class ShellStep(StepBase):
    kind: Literal["shell"]
    command: str | list[Arg] = Field(description="argv list (preferred) or a /bin/sh -c string")
    cwd: str | None = None
    env: dict[str, Arg] = Field(default_factory=dict)


class CheckStep(StepBase):
    kind: Literal["check"]
    type: Literal["http", "tcp", "sql", "command"]
    url: str | None = None
    expect_status: int | None = None
    expect_body: str | None = None
    host: str | None = Field(
        default=None, description="host reference: where a command/sql check runs, tcp target"
    )
    address: str | None = Field(
        default=None, description="tcp: literal address (default: the host's address)"
    )
    port: int | None = Field(default=None, ge=1, le=65535)
    dsn: SecretRef | str | None = None
    query: str | None = None
    expect: str | None = Field(
        default=None, description="sql: expected first value; command: expected stdout"
    )
    command: str | list[Arg] | None = None
    interval: Duration = timedelta(seconds=2)
    deadline: Duration | None = Field(default=None, description="keep retrying the check until this elapses")

    @model_validator(mode="after")
    def _needs(self) -> CheckStep:
        required = {"http": ("url",), "tcp": ("port",), "sql": ("dsn", "query"), "command": ("command",)}
        missing = [f for f in required[self.type] if getattr(self, f) is None]
        if missing:
            article = "an" if self.type in ("http", "sql") else "a"
            raise ValueError(f"{article} {self.type} check needs {', '.join(missing)}")
        if self.type == "tcp" and self.host is None and self.address is None:
            raise ValueError("a tcp check needs host (a host reference) or address")
        return self

    def expected_duration(self) -> timedelta:
        if self.estimate is not None:
            return self.estimate
        return self.interval


class WaitStep(StepBase):
    kind: Literal["wait"]
    duration: Duration

    def expected_duration(self) -> timedelta:
        return self.estimate if self.estimate is not None else self.duration


class ApprovalStep(StepBase):
    kind: Literal["approval"]
    message: str


class PlaybookStep(StepBase):
    kind: Literal["playbook"]
    playbook: str = Field(description="name of playbooks/NAME.yaml")
    host: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)


class TerraformStep(StepBase):
    kind: Literal["terraform"]
    dir: str
    action: Literal["plan", "apply"] = "apply"
    vars: dict[str, Scalar] = Field(default_factory=dict)


Step = Annotated[
    RestoreStep | SshStep | ShellStep | CheckStep | WaitStep | ApprovalStep | PlaybookStep | TerraformStep,
    Field(discriminator="kind"),
]
STEP_KINDS: tuple[str, ...] = (
    "restore",
    "ssh",
    "shell",
    "check",
    "wait",
    "approval",
    "playbook",
    "terraform",
)


# --- services and the runbook -----------------------------------------------------


class Service(Model):
    description: str | None = None
    site: str = Field(description="site the service normally runs at")
    recovery_site: str | None = Field(default=None, description="default: the only site with role: recovery")
    depends_on: list[str] = Field(default_factory=list)
    data_classes: list[str] = Field(default_factory=list)
    rto: Duration | None = None
    failover: list[Step] = Field(default_factory=list)
    failback: list[Step] = Field(default_factory=list)
    rebuild: list[Step] = Field(default_factory=list)

    def steps(self, action: str) -> list[AnyStep]:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        return list(getattr(self, action))


class Metadata(Model):
    name: str
    description: str | None = None
    owner: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class Runbook(Model):
    api_version: Literal["dr-orchestrator/v1"] = Field(alias="apiVersion")
    kind: Literal["Runbook"]
    metadata: Metadata
    rto: Duration | None = Field(default=None, description="RTO of the whole plan")
    repository_password: SecretRef | None = Field(
        default=None, description="password of the data classes' repositories (env:/file: reference); "
        "default: $DRO_PASSWORD")
    variables: dict[str, Scalar] = Field(default_factory=dict)
    include: list[str] = Field(default_factory=list)
    playbook_dirs: list[str] = Field(
        default_factory=lambda: ["playbooks", "../playbooks"],
        description="where playbook NAME is looked up (relative to the runbook)",
    )
    sites: dict[str, Site] = Field(default_factory=dict)
    data_classes: dict[str, DataClass] = Field(default_factory=dict)
    services: dict[str, Service] = Field(default_factory=dict)

    # Filled by the loader: where the runbook came from and where each node was written.
    _path: Path | None = PrivateAttr(default=None)
    _source_map: Any = PrivateAttr(default=None)  # yamlpos.SourceMap
    _positions: dict[str, Position] | None = PrivateAttr(default=None)

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def base_dir(self) -> Path:
        """Relative paths in the runbook (file://, known_hosts, file: secrets) start here."""
        return self._path.parent if self._path is not None else Path.cwd()

    @property
    def positions(self) -> dict[str, Position]:
        """Dotted path (`services.api.failover.0`) -> (file, line, column); built on first use."""
        if self._positions is None:
            smap = self._source_map
            table: dict[str, Position] = {}
            if smap is not None:
                for path in {*smap.values, *smap.keys}:
                    pos = smap.key(path)
                    table[".".join(str(p) for p in path)] = (pos.file, pos.line, pos.column)
            self._positions = table
        return self._positions

    def position(self, *parts: str | int) -> Position:
        """Where a node was written (`position("services", "api", "failover", 0)`);
        falls back to the closest enclosing node."""
        smap = self._source_map
        if smap is not None:
            path = tuple(int(p) if isinstance(p, str) and p.isdigit() else p for p in parts)
            pos = smap.key(path)
            if pos is not None:
                return (pos.file, pos.line, pos.column)
        return (str(self._path or "<runbook>"), 1, 1)

    def where(self, *parts: str | int) -> str:
        file, line, col = self.position(*parts)
        return f"{file}:{line}:{col}"

    def recovery_site_for(self, service: str) -> str | None:
        svc = self.services[service]
        if svc.recovery_site:
            return svc.recovery_site
        recovery = [name for name, site in self.sites.items() if site.role == "recovery"]
        return recovery[0] if len(recovery) == 1 else None

    def action_site(self, service: str, action: str) -> str | None:
        """Where an action's steps run: failover at the recovery site, failback/rebuild at home."""
        if action == "failover":
            return self.recovery_site_for(service)
        return self.services[service].site

    def resolve_host(self, ref: str, default_site: str | None) -> tuple[str, Host] | None:
        """`SITE/HOST` or `HOST` (looked up at `default_site`) -> (site name, Host)."""
        if "/" in ref:
            site_name, host_name = ref.split("/", 1)
        else:
            site_name, host_name = default_site or "", ref
        site = self.sites.get(site_name)
        if site is None or host_name not in site.hosts:
            return None
        return site_name, site.hosts[host_name]


class RunbookFragment(Model):
    """An included file: the same sections as a runbook, merged into it."""

    api_version: Literal["dr-orchestrator/v1"] | None = Field(default=None, alias="apiVersion")
    kind: Literal["RunbookFragment"] | None = None
    variables: dict[str, Scalar] = Field(default_factory=dict)
    include: list[str] = Field(default_factory=list)
    sites: dict[str, Site] = Field(default_factory=dict)
    data_classes: dict[str, DataClass] = Field(default_factory=dict)
    services: dict[str, Service] = Field(default_factory=dict)


class PlaybookParam(Model):
    description: str | None = None
    required: bool = False
    default: Any = None


class Playbook(Model):
    """playbooks/NAME.yaml: a reusable, parameterised step list (values are Jinja2 templates)."""

    api_version: Literal["dr-orchestrator/v1"] = Field(alias="apiVersion")
    kind: Literal["Playbook"]
    description: str | None = None
    params: dict[str, PlaybookParam] = Field(default_factory=dict)
    steps: list[dict[str, Any]] = Field(min_length=1, description="step templates, rendered then validated")



AnyStep = (
    RestoreStep | SshStep | ShellStep | CheckStep | WaitStep | ApprovalStep | PlaybookStep | TerraformStep
)
