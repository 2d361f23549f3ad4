#!/usr/bin/env bash
# `make test`: install what is missing, lint, start the real servers, run pytest, stop the servers.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --services
.venv/bin/ruff check dr_orchestrator tests bench runbooks
.venv/bin/mypy
trap 'scripts/services.sh stop' EXIT
scripts/services.sh start
eval "$(scripts/services.sh env)"
export DRO_REQUIRE_SERVICES=1
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
