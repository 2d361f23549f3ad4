"""PostgreSQL connection strings without leaking the password.

A DSN (URI `postgresql://user:pw@host:port/db?opt=v` or key=value `host=h password=pw …`)
is parsed into libpq parameters; the password is taken out and handed to the child
process in `PGPASSWORD` (its environment is readable only by the same user), and what goes
on the command line is a key=value conninfo string with no password in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from dr_orchestrator.errors import BadInput

_URI_PREFIXES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class ConnInfo:
    params: dict[str, str]
    password: str | None = field(default=None, repr=False)

    def with_database(self, dbname: str) -> ConnInfo:
        return ConnInfo({**self.params, "dbname": dbname}, self.password)

    @property
    def database(self) -> str | None:
        return self.params.get("dbname")

    def conninfo(self) -> str:
        """key=value string for `--dbname=`: everything but the password."""
        return " ".join(f"{k}={_quote(v)}" for k, v in self.params.items())

    def env(self) -> dict[str, str]:
        """Environment for a libpq child: the password (if any) and a connect timeout."""
        env = {"PGCONNECT_TIMEOUT": self.params.get("connect_timeout", "15")}
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env

    def secrets(self) -> list[str]:
        return [self.password] if self.password else []

    def display(self) -> str:
        """Where the database is, for messages: host:port/db (never the password)."""
        host = self.params.get("host", "local socket")
        port = self.params.get("port")
        db = self.params.get("dbname", "?")
        return f"{host}{':' + port if port else ''}/{db}"


def _quote(value: str) -> str:
    if value and all(c.isalnum() or c in "._-/:,@" for c in value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def parse_dsn(dsn: str) -> ConnInfo:
    """Parse a URI or key=value DSN. Errors never quote the DSN (it may hold a password)."""
    text = dsn.strip()
    params = _parse_uri(text) if text.startswith(_URI_PREFIXES) else _parse_kv(text)
    password = params.pop("password", None)
    return ConnInfo(params, password)


def _parse_uri(text: str) -> dict[str, str]:
    split = urlsplit(text)
    userinfo, _, hostlist = split.netloc.rpartition("@")
    params: dict[str, str] = {}
    if userinfo:
        user, sep, password = userinfo.partition(":")
        if user:
            params["user"] = unquote(user)
        if sep:
            params["password"] = unquote(password)
    hosts, ports = [], []
    for item in filter(None, hostlist.split(",")):
        if item.startswith("["):  # [ipv6]:port
            host, _, rest = item[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else ""
        else:
            host, _, port = item.partition(":")
        hosts.append(unquote(host))
        ports.append(port)
    if any(hosts):
        params["host"] = ",".join(hosts)
    if any(ports):
        params["port"] = ",".join(ports)
    db = unquote(split.path.lstrip("/"))
    if db:
        params["dbname"] = db
    for key, value in parse_qsl(split.query, keep_blank_values=True):
        params[key] = value
    return params


def _parse_kv(text: str) -> dict[str, str]:
    params: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        start = i
        while i < n and text[i] not in "= \t\n":
            i += 1
        key = text[start:i]
        while i < n and text[i].isspace():
            i += 1
        if not key or i >= n or text[i] != "=":
            raise BadInput("malformed PostgreSQL connection string (expected key=value pairs)",
                           "use a URI postgresql://user@host:port/db or 'host=… port=… dbname=…'")
        i += 1
        while i < n and text[i].isspace():
            i += 1
        value: list[str] = []
        if i < n and text[i] == "'":
            i += 1
            while i < n and text[i] != "'":
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                value.append(text[i])
                i += 1
            if i >= n:
                raise BadInput("malformed PostgreSQL connection string (unterminated quote)")
            i += 1
        else:
            while i < n and not text[i].isspace():
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                value.append(text[i])
                i += 1
        params[key] = "".join(value)
    return params
