#!/usr/bin/env bash
# `make test`: start the local Kafka broker unless one already runs, run the whole suite
# (unit and integration) against it, and stop the broker again if this script started it.
set -euo pipefail
cd "$(dirname "$0")/.."

started=0
if ! bash deploy/kafka/kafka.sh status >/dev/null 2>&1; then
    bash deploy/kafka/kafka.sh up
    started=1
fi
stop_broker() {
    if [ "$started" = 1 ]; then
        bash deploy/kafka/kafka.sh down >/dev/null || true
    fi
}
trap stop_broker EXIT

.venv/bin/python -m pytest "$@"
