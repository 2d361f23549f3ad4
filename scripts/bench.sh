#!/usr/bin/env bash
# `make bench`: every benchmark in bench/, side by side with its peer, results into BENCHMARKS.md.
#   scripts/bench.sh            all of them (about an hour on a 2-core machine: moto is slow)
#   scripts/bench.sh NAME ...   only some: backup storage replicate plan executor
# Needs the test servers for storage (moto, Azurite, fake-gcs, sshd); this script starts them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
which=${*:-backup storage replicate plan executor}
need_services=0
for b in $which; do [ "$b" = storage ] && need_services=1; done
if [ $need_services = 1 ]; then
  trap 'scripts/services.sh stop' EXIT
  scripts/services.sh start
  eval "$(scripts/services.sh env)"
fi
unset AWS_CA_BUNDLE   # rclone's S3 backend fails on it even over plain http
for b in $which; do
  echo "==> bench: $b"
  case $b in
    backup)    $PY bench/backup.py --size 1.5GiB --work bench/.work ;;
    storage)   $PY bench/storage.py ;;
    replicate) $PY bench/replicate.py ;;
    plan)      $PY bench/plan_scale.py ;;
    executor)  $PY bench/executor_overhead.py ;;
    *) echo "unknown benchmark $b (backup storage replicate plan executor)" >&2; exit 2 ;;
  esac
done
