"""The quickstart's tiny web application: a SQLite database, an API and a web page.

    python demo_app.py seed  --dir DIR            sample data: DIR/app.db, DIR/uploads/
    python demo_app.py start --role api|web ...   start a server in the background (pid file)
    python demo_app.py stop  --pidfile FILE       stop it
    python demo_app.py check-db --db FILE         exit 0 when the database holds the sample rows
    python demo_app.py manifest --db FILE --uploads DIR   fingerprint of the data (to compare a restore)

Standard library only, so `make demo` runs anywhere Python runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROWS = 250


def seed(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "uploads").mkdir(exist_ok=True)
    db = sqlite3.connect(directory / "app.db")
    db.execute("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
    if db.execute("SELECT count(*) FROM items").fetchone()[0] == 0:
        db.executemany("INSERT INTO items (name, price) VALUES (?, ?)",
                       [(f"item-{i:04d}", round(1 + i * 0.37, 2)) for i in range(ROWS)])
    db.commit()
    db.close()
    for i in range(5):
        (directory / "uploads" / f"invoice-{i}.txt").write_text(f"invoice {i}\n" * 50)
    print(f"seeded {directory}: {ROWS} items, 5 uploads")


def check_db(path: Path) -> int:
    if not path.exists():
        print(f"{path}: missing", file=sys.stderr)
        return 1
    count = sqlite3.connect(path).execute("SELECT count(*) FROM items").fetchone()[0]
    print(f"{path}: {count} items")
    return 0 if count >= ROWS else 1


class Handler(BaseHTTPRequestHandler):
    role = "api"
    db = ""
    api = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.role == "api":
            conn = sqlite3.connect(self.db)
            count = conn.execute("SELECT count(*) FROM items").fetchone()[0]
            body = json.dumps({"items": count}).encode()
            kind = "application/json"
        else:
            with urllib.request.urlopen(f"{self.api}/items", timeout=5) as resp:  # noqa: S310 - local URL
                count = json.load(resp)["items"]
            body = f"<html><body><h1>demo shop</h1><p>{count} items</p></body></html>".encode()
            kind = "text/html"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def serve(role: str, port: int, db: str, api: str) -> None:
    Handler.role, Handler.db, Handler.api = role, db, api
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def start(args: argparse.Namespace) -> int:
    stop(Path(args.pidfile))
    Path(args.pidfile).parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, __file__, "serve", "--role", args.role, "--port", str(args.port),
         "--db", args.db or "", "--api", args.api or ""],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    Path(args.pidfile).write_text(str(proc.pid))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", args.port), timeout=0.5).close()
            print(f"{args.role} listening on 127.0.0.1:{args.port} (pid {proc.pid})")
            return 0
        except OSError:
            time.sleep(0.1)
    print(f"{args.role} did not start on port {args.port}", file=sys.stderr)
    return 1


def stop(pidfile: Path) -> int:
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):  # gone already, or a torn pidfile
            os.kill(int(pidfile.read_text()), signal.SIGTERM)
        pidfile.unlink()
    return 0


def manifest(db: Path, uploads: Path) -> dict[str, str]:
    """SHA-256 of every upload, and of the database's logical content (a SQLite online
    backup rewrites header counters, so its bytes differ while its content is identical)."""
    import hashlib

    out = {}
    for f in sorted(uploads.rglob("*")):
        if f.is_file():
            out[f"uploads/{f.relative_to(uploads)}"] = hashlib.sha256(f.read_bytes()).hexdigest()
    conn = sqlite3.connect(db)
    out["app.db (content)"] = hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()
    conn.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(prog="demo_app")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("seed")
    p.add_argument("--dir", required=True)
    p = sub.add_parser("check-db")
    p.add_argument("--db", required=True)
    for name in ("start", "serve"):
        p = sub.add_parser(name)
        p.add_argument("--role", choices=("api", "web"), required=True)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--db")
        p.add_argument("--api")
        p.add_argument("--pidfile", default="")
    p = sub.add_parser("stop")
    p.add_argument("--pidfile", required=True)
    p = sub.add_parser("manifest")
    p.add_argument("--db", required=True)
    p.add_argument("--uploads", required=True)
    args = parser.parse_args()
    if args.cmd == "manifest":
        print(json.dumps(manifest(Path(args.db), Path(args.uploads)), indent=1, sort_keys=True))
        return 0
    if args.cmd == "seed":
        seed(Path(args.dir))
        return 0
    if args.cmd == "check-db":
        return check_db(Path(args.db))
    if args.cmd == "serve":
        serve(args.role, args.port, args.db, args.api)
        return 0
    if args.cmd == "start":
        return start(args)
    return stop(Path(args.pidfile))


if __name__ == "__main__":
    sys.exit(main())
