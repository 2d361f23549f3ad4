#!/usr/bin/env bash
# Install everything a fresh machine lacks for `make test` / `make demo`.
#   scripts/bootstrap.sh            Python venv + package (enough for the demo)
#   scripts/bootstrap.sh --services also Azurite (npm), openssh-server, PostgreSQL, restic, rclone, chromium
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q --disable-pip-version-check -U pip
  # "compat" editable mode: the checkout is one plain path in a .pth file. The default mode
  # imports a finder module at every interpreter start (~30 ms of each `dro` run); if a
  # future setuptools drops compat mode, the default one is used.
  .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]' --config-settings editable_mode=compat \
    2>/dev/null || .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
  rm -f .venv/.installed-*; touch "$stamp"
fi
# Bytecode for the package, as `pip install` (non-editable) would leave it: where
# PYTHONDONTWRITEBYTECODE is set nothing else writes it, and every `dro` run would compile
# ~150 modules from source first (~0.1 s). Only changed files are recompiled.
.venv/bin/python -m compileall -q -j 0 dr_orchestrator >/dev/null

[ "${1:-}" = "--services" ] || exit 0

# Azurite (Azure Blob emulator) into a project-local folder.
if [ ! -x .tools/npm/node_modules/.bin/azurite-blob ]; then
  mkdir -p .tools/npm
  (cd .tools/npm && { [ -f package.json ] || npm init -y >/dev/null; } \
     && npm install --no-audit --no-fund --silent azurite@3.35.0 >/dev/null)
fi

# Debian packages: sshd (SFTP/SSH tests), PostgreSQL (two clusters), restic/rclone (benchmark peers),
# chromium (renders the HTML drill report in a test).
need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || need+=(postgresql)
command -v pgbench >/dev/null || need+=(postgresql-contrib)
command -v restic >/dev/null || need+=(restic)
command -v rclone >/dev/null || need+=(rclone)
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: ${need[*]} (run as root or install them)" >&2; exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
