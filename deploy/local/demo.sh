#!/usr/bin/env bash
# `make demo`: local Kafka, the topics, the processor and a journey generator; then the alerts,
# live. Ctrl-C stops everything this script started (and the broker, if it started it).
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=.venv/bin
LOGS=var/demo
PORT="${CX_WEB_PORT:-6066}"
mkdir -p "$LOGS"

started_kafka=0
if ! bash deploy/kafka/kafka.sh status >/dev/null 2>&1; then
    bash deploy/kafka/kafka.sh up
    started_kafka=1
fi

pids=()
stop_all() {
    trap - EXIT INT TERM
    echo
    echo "stopping the demo ..."
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "$started_kafka" = 1 ]; then bash deploy/kafka/kafka.sh down; fi
}
trap stop_all EXIT
trap 'exit 130' INT TERM

$BIN/cx-streams topics

$BIN/cx-streams worker >"$LOGS/worker.log" 2>&1 &
pids+=($!)
printf 'starting the processor (log: %s) ' "$LOGS/worker.log"
for _ in $(seq 1 120); do
    if curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "${pids[0]}" 2>/dev/null; then
        echo; echo "the processor stopped; last lines of its log:"; tail -n 30 "$LOGS/worker.log"; exit 1
    fi
    printf '.'; sleep 1
done
echo " ready"

$BIN/cx-streams generate --customers "${DEMO_CUSTOMERS:-200}" --rate "${DEMO_RATE:-40}" \
    --invalid-ratio 0.01 --quiet >"$LOGS/generator.log" 2>&1 &
pids+=($!)

cat <<INFO

  cx-streams is running.
    score of one customer : curl http://127.0.0.1:$PORT/customers/C-000001
    customers at risk     : curl http://127.0.0.1:$PORT/at-risk?limit=10
    Prometheus metrics    : curl http://127.0.0.1:$PORT/metrics
    health                : curl http://127.0.0.1:$PORT/healthz
    logs                  : $LOGS/worker.log, $LOGS/generator.log
  Alerts appear below as customers slide toward churn. Ctrl-C stops everything.

INFO

$BIN/cx-streams watch
