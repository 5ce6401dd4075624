#!/usr/bin/env bash
# A local single-node Apache Kafka for the demo and the tests: KRaft, broker and controller in one
# JVM, listening on 127.0.0.1 only. No Docker: the jars come from Maven Central through
# deploy/kafka/pom.xml (once per version, cached in .cache/kafka/<version>/libs) and each port
# gets its own run directory, .cache/kafka/run-<port> (config, data, logs, pid file).
#
#   kafka.sh up               start it and wait until it answers clients (a no-op if it runs)
#   kafka.sh down [--clean]   stop it; --clean (or KAFKA_CLEAN=1) also deletes its data
#   kafka.sh status           say whether it runs (exit 0 if a broker answers, 1 if not)
#   kafka.sh logs [-f]        the end of its log (-f: follow it)
#
# Environment: KAFKA_PORT (default 9092), KAFKA_CONTROLLER_PORT (default KAFKA_PORT+1),
# KAFKA_HEAP_OPTS (default "-Xms256m -Xmx512m"), KAFKA_START_TIMEOUT (seconds, default 90),
# KAFKA_CLEAN=1 (same as down --clean).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
pom="$here/pom.xml"
log4j_config="$here/log4j2.yaml"

# the one source of truth for the version is the pom's <kafka.version> property
version="$(sed -n 's:.*<kafka\.version>[[:space:]]*\([^<[:space:]]*\)[[:space:]]*</kafka\.version>.*:\1:p' "$pom" | head -n 1)"

port="${KAFKA_PORT:-9092}"
[[ "$port" =~ ^[0-9]+$ ]] || { echo "KAFKA_PORT must be a port number (got '$port')." >&2; exit 1; }
controller_port="${KAFKA_CONTROLLER_PORT:-$((port + 1))}"
libs="$root/.cache/kafka/$version/libs"
run="$root/.cache/kafka/run-$port"
config="$run/server.properties"
pidfile="$run/broker.pid"
log="$run/broker.log"       # written by log4j2 (see log4j2.yaml)
console="$run/console.log"  # the JVM's own stdout/stderr: empty unless the JVM itself fails
start_timeout="${KAFKA_START_TIMEOUT:-90}"
stop_timeout=30

say() { printf '%s\n' "$*"; }
die() { printf '%s\n' "$*" >&2; exit 1; }

[ -n "$version" ] || die "Could not read <kafka.version> from $pom."
[[ "$controller_port" =~ ^[0-9]+$ ]] || die "KAFKA_CONTROLLER_PORT must be a port number (got '$controller_port')."
[[ "$start_timeout" =~ ^[0-9]+$ ]] || die "KAFKA_START_TIMEOUT must be a number of seconds (got '$start_timeout')."

# --- prerequisites -------------------------------------------------------------------------

require_java() {
    command -v java >/dev/null 2>&1 ||
        die "Java 17 or newer is required to run the local Kafka broker: install a JDK (e.g. apt-get install openjdk-17-jre-headless) and try again."
    # `java -version` prints e.g.: openjdk version "17.0.15" ... (or "1.8.0_392" up to Java 8)
    local full major
    full="$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1)"
    major="${full%%[.+-]*}"
    [ "$major" = 1 ] && major="$(printf '%s' "$full" | cut -d. -f2)"
    if [[ "$major" =~ ^[0-9]+$ ]] && [ "$major" -lt 17 ]; then
        die "Java 17 or newer is required to run the local Kafka broker (java on PATH is $full): install a newer JDK (e.g. apt-get install openjdk-17-jre-headless) and put it first on PATH."
    fi
}

require_maven() {
    command -v mvn >/dev/null 2>&1 ||
        die "Maven is required to fetch the Kafka broker's jars from Maven Central once: install it (e.g. apt-get install maven) and try again."
}

# --- jars ----------------------------------------------------------------------------------

# The cache is keyed by the pom's checksum too, so editing the pom (another logging binding, an
# exclusion) refreshes the jars even when the Kafka version stays the same.
pom_sum() { cksum <"$pom" | cut -d' ' -f1; }

fetch_jars() {
    if [ -f "$libs/.resolved" ] && [ "$(cat "$libs/.resolved")" = "$(pom_sum)" ]; then
        return 0
    fi
    require_maven
    say "Fetching the jars of Apache Kafka $version with Maven from Maven Central (once; cached in ${libs#"$root"/}) ..."
    # resolve into a fresh directory and swap it in only when complete, so an interrupted or
    # failed download never leaves a half-filled cache behind
    local out
    partial="$libs.partial.$$"
    trap 'rm -rf "$partial"' EXIT
    mkdir -p "$(dirname "$libs")"
    if ! out="$(mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
        -Dkafka.libs="$partial" 2>&1)"; then
        # (Maven 3.8 prints colour resets even in batch mode: drop them)
        printf '%s\n' "$out" | sed 's/\x1b\[[0-9;]*m//g' >&2
        die "Maven could not fetch the jars of Apache Kafka $version (its output is above)."
    fi
    pom_sum >"$partial/.resolved"
    rm -rf "$libs"
    mv "$partial" "$libs"
    trap - EXIT
}

# Runs a Kafka tool (not the broker) with the broker's jars; it logs warnings to tools.log in the
# run directory. C1-only JIT: these JVMs live a second or two, so start-up speed is what counts.
kafka_tool() {
    java -Xmx256m -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
        -Dkafka.logs.dir="$run" -Dkafka.log.file=tools.log -Dkafka.log.level=WARN \
        -Dlog4j2.configurationFile="$log4j_config" -cp "$libs/*" "$@"
}

# --- broker state --------------------------------------------------------------------------

# The pid from the pid file if that process is alive and still our broker (not a recycled pid).
running_pid() {
    [ -f "$pidfile" ] || return 1
    local pid args
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" || return 1
    if [ -r "/proc/$pid/cmdline" ]; then
        args="$(tr '\0' ' ' <"/proc/$pid/cmdline")"
    else
        args="$(ps -p "$pid" -o args= 2>/dev/null || true)"
    fi
    case "$args" in *kafka.Kafka*) ;; *) return 1 ;; esac
    printf '%s\n' "$pid"
}

# kill -0 alone also succeeds for a zombie (a broker that died as a child of this very script)
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# bash's /dev/tcp: is something accepting TCP connections on 127.0.0.1:$1?
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A real client round trip (metadata + list topics through the admin API), with short client
# timeouts so one attempt never hangs for the admin client's default 60 s.
answers_clients() {
    kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$port" \
        --command-config "$run/client.properties" --list >/dev/null 2>&1
}

# SIGTERM (the broker shuts down cleanly), then SIGKILL after $stop_timeout s.
# Prints "stopped" or "killed".
stop_pid() {
    local pid="$1" waited=0
    kill -TERM "$pid" 2>/dev/null || true
    while alive "$pid" && [ "$waited" -lt $((stop_timeout * 4)) ]; do
        sleep 0.25
        waited=$((waited + 1))
    done
    if alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        while alive "$pid"; do sleep 0.1; done
        echo killed
    else
        echo stopped
    fi
}

# What this start wrote to the log (from byte $1 on): its errors first, then its last lines.
show_log_tail() {
    local from="$1" lines
    lines="$(tail -c +"$((from + 1))" "$log" 2>/dev/null || true)"
    {
        [ -s "$console" ] && { echo "--- $console ---"; tail -n 20 "$console"; }
        if [ -z "$lines" ]; then
            echo "--- nothing was written to $log ---"
        else
            if grep -qE '^\[[^]]*\] (ERROR|FATAL) ' <<<"$lines"; then
                echo "--- errors in $log ---"
                grep -E '^\[[^]]*\] (ERROR|FATAL) ' <<<"$lines" | tail -n 5
            fi
            echo "--- last lines of $log ---"
            tail -n 15 <<<"$lines"
        fi
    } >&2
}

# --- config and storage --------------------------------------------------------------------

write_config() {
    mkdir -p "$run/data"
    cat >"$config" <<EOF
# Generated by deploy/kafka/kafka.sh on every 'up'; edits here are overwritten.
# One node that is both the KRaft controller and the broker, reachable on 127.0.0.1 only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$run/data

# A single node cannot replicate: every internal topic gets one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Fewer partitions for the internal topics than the defaults (50): they are created on the
# first consumer group / first transactional producer, and that first call is then faster.
offsets.topic.num.partitions=10
transaction.state.log.num.partitions=5

# Topics are created explicitly (cx-streams topics, the tests); a typo must not create one.
auto.create.topics.enable=false
num.partitions=1
# No 3 s wait before the first rebalance of a consumer group: tests and the demo start faster.
group.initial.rebalance.delay.ms=0

# Smaller than the defaults so a laptop's disk and memory are spared; topics that need their
# own retention set it themselves (streams/topics.py). The cleaner's dedupe buffer is taken
# from the heap (default 128 MiB of it).
log.segment.bytes=16777216
log.retention.check.interval.ms=60000
log.cleaner.dedupe.buffer.size=16777216
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF
    # client settings for the readiness check: fail fast, the loop retries
    cat >"$run/client.properties" <<EOF
request.timeout.ms=5000
default.api.timeout.ms=8000
EOF
}

# KRaft storage is formatted once per data directory (meta.properties marks it); a later 'up'
# reuses it, 'down --clean' deletes it.
format_storage() {
    [ -f "$run/data/meta.properties" ] && return 0
    local cluster_id
    cluster_id="$(kafka_tool kafka.tools.StorageTool random-uuid | tail -n 1)"
    if ! kafka_tool kafka.tools.StorageTool format --config "$config" \
        --cluster-id "$cluster_id" --ignore-formatted >"$run/format.log" 2>&1; then
        cat "$run/format.log" >&2
        die "Could not format the KRaft storage in $run/data (the storage tool's output is above)."
    fi
}

# --- commands ------------------------------------------------------------------------------

# Waits until broker $1 answers clients. An open port is not enough (the broker listens before it
# has caught up with its metadata log), so a real admin request must succeed. On failure shows
# what the broker logged since byte $2 of its log, stops it if $3 is "stop", and exits 1.
wait_ready() {
    local pid="$1" log_from="$2" on_timeout="$3" started=$SECONDS
    until port_open "$port" && answers_clients; do
        if ! alive "$pid"; then
            rm -f "$pidfile"
            show_log_tail "$log_from"
            die "The Kafka broker exited while starting (see the log lines above)."
        fi
        if [ $((SECONDS - started)) -ge "$start_timeout" ]; then
            show_log_tail "$log_from"
            if [ "$on_timeout" = stop ]; then
                stop_pid "$pid" >/dev/null
                rm -f "$pidfile"
                die "The Kafka broker did not answer on 127.0.0.1:$port within ${start_timeout}s, so it was stopped (see the log lines above)."
            fi
            die "The Kafka broker (pid $pid) did not answer on 127.0.0.1:$port within ${start_timeout}s (see the log lines above)."
        fi
        sleep 0.5
    done
}

cmd_up() {
    local pid log_from=0
    [ -f "$log" ] && log_from="$(wc -c <"$log")"
    if pid="$(running_pid)"; then
        if ! port_open "$port"; then
            # started a moment ago by another 'up' that is still waiting for it: wait too
            say "Kafka is starting on 127.0.0.1:$port (pid $pid); waiting for it ..."
            require_java
            wait_ready "$pid" "$log_from" keep
        fi
        say "Kafka is already running on 127.0.0.1:$port (pid $pid); leaving it alone."
        return 0
    fi
    if port_open "$port"; then
        say "Something already answers on 127.0.0.1:$port (not started by this script); leaving it alone."
        return 0
    fi
    if port_open "$controller_port"; then
        die "Port $controller_port, which the Kafka controller needs, is taken by another program: free it or set KAFKA_CONTROLLER_PORT to a free port."
    fi
    require_java
    fetch_jars
    write_config
    format_storage
    rm -f "$pidfile"
    : >"$console"

    local heap_opts
    read -r -a heap_opts <<<"${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
    # nohup + '&': the broker outlives this script and the terminal it was started from.
    # The GC flags are those of Kafka's own kafka-run-class.sh.
    nohup java "${heap_opts[@]}" \
        -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
        -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
        -Dkafka.logs.dir="$run" -Dkafka.log.file=broker.log \
        -Dlog4j2.configurationFile="$log4j_config" \
        -cp "$libs/*" kafka.Kafka "$config" </dev/null >>"$console" 2>&1 &
    pid=$!
    echo "$pid" >"$pidfile"
    wait_ready "$pid" "$log_from" stop
    say "Kafka $version is ready on 127.0.0.1:$port (pid $pid, log: $log)"
}

cmd_down() {
    local clean="${KAFKA_CLEAN:-0}" pid how
    case "${1:-}" in
        --clean) clean=1 ;;
        "") ;;
        *) die "usage: kafka.sh down [--clean]" ;;
    esac
    if pid="$(running_pid)"; then
        how="$(stop_pid "$pid")"
        rm -f "$pidfile"
        if [ "$how" = killed ]; then
            say "Kafka on 127.0.0.1:$port (pid $pid) did not stop within ${stop_timeout}s and was killed."
        else
            say "Stopped Kafka on 127.0.0.1:$port (pid $pid)."
        fi
    else
        rm -f "$pidfile"
        if port_open "$port"; then
            say "No Kafka started by this script runs on 127.0.0.1:$port (something else answers there and was left alone)."
        else
            say "No Kafka runs on 127.0.0.1:$port; nothing to stop."
        fi
    fi
    if [ "$clean" = 1 ] && [ -d "$run" ]; then
        rm -rf "$run"
        say "Deleted its data ($run): the next 'up' starts empty."
    fi
}

cmd_status() {
    local pid
    if pid="$(running_pid)"; then
        say "Kafka $version is running on 127.0.0.1:$port (pid $pid, log: $log)."
    elif port_open "$port"; then
        say "Something answers on 127.0.0.1:$port, but it was not started by this script."
    else
        say "Kafka is not running on 127.0.0.1:$port."
        return 1
    fi
}

cmd_logs() {
    [ -f "$log" ] || die "No broker log yet at $log (start it with: kafka.sh up)."
    case "${1:-}" in
        -f | --follow) exec tail -n 50 -F "$log" ;;
        "") tail -n 100 "$log" ;;
        *) die "usage: kafka.sh logs [-f]" ;;
    esac
}

command="${1:-}"
[ $# -gt 0 ] && shift
case "$command" in
    up) cmd_up ;;
    down) cmd_down "$@" ;;
    status) cmd_status ;;
    logs) cmd_logs "$@" ;;
    *) die "usage: kafka.sh up | down [--clean] | status | logs [-f]" ;;
esac
