#!/usr/bin/env bash
# `make demo`: the whole DR loop on the quickstart runbook, on this machine only.
# Two local directories stand in for two regions and local processes for hosts:
#   sample data → backup → replicate to the second region → lose the primary → drill → report.
set -euo pipefail
cd "$(dirname "$0")/.."
DRO=.venv/bin/dro
RB=runbooks/quickstart.yaml
DEMO=.dro-demo
export DRO_STATE_DIR=$DEMO/state
B=$'\e[1m'; G=$'\e[32m'; N=$'\e[0m'
[ -t 1 ] || { B=; G=; N=; }
step() { printf '\n%s==> %s%s\n' "$B" "$*" "$N"; }
start=$(date +%s)

# A fresh demo every time; earlier demo servers (if a run was killed) are stopped by their pid files.
for pid in "$DEMO"/run/*.pid "$DEMO"/drill/run/*.pid; do
  [ -f "$pid" ] && python3 runbooks/quickstart/demo_app.py stop --pidfile "$pid" >/dev/null 2>&1 || true
done
rm -rf "$DEMO"; mkdir -p "$DEMO"
# The repository password: a secret, so it lives in a file (0600) that the runbook references
# (`repository_password: file:../.dro-demo/password`), never in the runbook itself.
unset DRO_PASSWORD
umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(24))' >"$DEMO/password"; umask 022

step "1/8 Validate the runbook (sites, data classes, services, dependency graph)"
$DRO validate $RB

step "2/8 The failover plan: waves from the dependency graph, critical path, estimate vs RTO"
$DRO plan $RB --action failover

step "3/8 The shop's data in the primary region ($DEMO/primary)"
python3 runbooks/quickstart/demo_app.py seed --dir "$DEMO/primary"

step "4/8 Back up each data class into an encrypted, deduplicated repository at the primary site"
$DRO backup $RB --data-class appdb
$DRO backup $RB --data-class uploads

step "5/8 Replicate to the recovery region, then check RPO per data class and site"
$DRO replicate $RB
$DRO status $RB

step "6/8 Disaster: the primary region is lost (its data and its backups are deleted)"
python3 runbooks/quickstart/demo_app.py manifest --db "$DEMO/primary/app.db" --uploads "$DEMO/primary/uploads" \
  >"$DEMO/lost-data.json"   # a fingerprint of what is about to be lost, to check the restore against
rm -rf "$DEMO/primary" "$DEMO/storage/primary"
echo "deleted $DEMO/primary and $DEMO/storage/primary"
$DRO status $RB || echo "(exit $? — the primary copies are gone; the recovery site still holds every snapshot)"

step "7/8 Drill the failover from the surviving region: restore, start, check, time it, clean up"
rc=0
$DRO drill $RB --report-dir "$DEMO/report" --auto-approve || rc=$?

step "8/8 Verify: restore from the recovery region and compare with what was lost"
for dc in appdb uploads; do
  $DRO restore latest --repo "file://$PWD/$DEMO/storage/recovery/$dc" --password-file "$DEMO/password" \
    --target "$DEMO/verify/$dc"
done
python3 runbooks/quickstart/demo_app.py manifest --db "$DEMO/verify/appdb/shop-db/app.db" \
  --uploads "$DEMO/verify/uploads$PWD/$DEMO/primary/uploads" >"$DEMO/restored-data.json"
if cmp -s "$DEMO/lost-data.json" "$DEMO/restored-data.json"; then
  echo "${G}identical${N}: every upload byte for byte, and the database's content ($DEMO/restored-data.json)"
else
  echo "MISMATCH between $DEMO/lost-data.json and $DEMO/restored-data.json" >&2
  diff "$DEMO/lost-data.json" "$DEMO/restored-data.json" >&2 || true
  rc=3
fi

elapsed=$(( $(date +%s) - start ))
cat <<TXT

${B}What happened${N} (in ${elapsed}s)
  - The database and uploads were backed up at "primary", replicated to "recovery", and
    the primary copies were destroyed.
  - ${G}dro drill${N} restored both data classes from the recovery region into drill targets
    ($DEMO/drill), started the API and web page on drill ports (19081/19082), checked them,
    timed every step against each service's RTO, measured RPO as the restored snapshot's age,
    then stopped everything it started and removed the drill targets.

${B}Reports${N}
  HTML (timeline):  $DEMO/report/report.html
  JUnit for CI:     $DEMO/report/junit.xml
  Markdown / JSON:  $DEMO/report/report.md, $DEMO/report/report.json

${B}Try next${N}
  export DRO_STATE_DIR=$DEMO/state
  $DRO history $RB                       # achieved RTO/RPO of every drill so far
  $DRO failover $RB --dry-run            # exactly what a real failover would run
  $DRO plan $RB --format mermaid         # the plan as a diagram
  $DRO snapshots --repo file://$PWD/$DEMO/storage/recovery/appdb --password-file $DEMO/password
  $DRO runs && $DRO show RUN_ID          # every run's journal
TXT
exit $rc
