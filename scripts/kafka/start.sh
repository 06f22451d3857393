#!/usr/bin/env bash
# Starts a single-node Apache Kafka 3.9.1 broker (KRaft, combined broker+controller) on 127.0.0.1 only, in the
# background, and waits until it is ready ("Kafka Server started").
#
# Usage: scripts/kafka/start.sh [--dir DIR] [--port P] [--controller-port C] [--timeout-s S] [--heap-mb M]
#   --dir DIR              state folder (config, data, logs, pid); default: a new mktemp folder under $TMPDIR.
#                          If DIR already holds a formatted broker it is restarted with the same ports and data.
#   --port P               client port; default: a free port picked now (never a fixed 9092, so a developer's own
#                          broker cannot collide)
#   --controller-port C    KRaft controller port; default: a free port
#   --timeout-s S          how long to wait for readiness [default 90]
#   --heap-mb M            JVM heap [default 512]
# Prints, on stdout, two lines to eval or parse:
#   KAFKA_BROKERS=127.0.0.1:P
#   KAFKA_DIR=DIR
# Stop it with scripts/kafka/stop.sh --dir DIR [--delete]. The jars come from scripts/kafka/install.sh.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
KAFKA_HOME="${KAFKA_HOME:-$ROOT/.kafka}"
LIBS="$KAFKA_HOME/libs"

DIR="" PORT="" CPORT="" TIMEOUT=90 HEAP=512
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --controller-port) CPORT="$2"; shift 2 ;;
    --timeout-s) TIMEOUT="$2"; shift 2 ;;
    --heap-mb) HEAP="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "scripts/kafka/start.sh: unknown option '$1'; see --help" >&2; exit 2 ;;
  esac
done

if ! ls "$LIBS"/kafka_2.13-*.jar >/dev/null 2>&1; then
  bash "$HERE/install.sh" --quiet
fi

free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{process.stdout.write(String(s.address().port));s.close();});"
}

[ -n "$DIR" ] || DIR=$(mktemp -d "${TMPDIR:-/tmp}/compactrec-kafka.XXXXXX")
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
PROPS="$DIR/server.properties"

if [ -f "$DIR/kafka.pid" ] && kill -0 "$(cat "$DIR/kafka.pid")" 2>/dev/null; then
  echo "scripts/kafka/start.sh: a broker is already running from $DIR (pid $(cat "$DIR/kafka.pid")); stop it first" >&2
  exit 1
fi

if [ ! -f "$PROPS" ]; then
  [ -n "$PORT" ] || PORT=$(free_port)
  [ -n "$CPORT" ] || { CPORT=$(free_port); while [ "$CPORT" = "$PORT" ]; do CPORT=$(free_port); done; }
  mkdir -p "$DIR/data" "$DIR/logs"
  cat >"$PROPS" <<PROPS
# Written by scripts/kafka/start.sh: single-node KRaft broker for development and tests, loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DIR/data
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
# Tests use short session timeouts so a killed consumer's partitions move quickly.
group.min.session.timeout.ms=1000
auto.create.topics.enable=false
delete.topic.enable=true
log.retention.hours=24
PROPS
  cat >"$DIR/log4j.properties" <<LOG4J
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$DIR/logs/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.storage=WARN
log4j.logger.kafka.log=WARN
LOG4J
  CLUSTER_ID=$(java -cp "$LIBS/*" -Dlog4j.configuration="file:$DIR/log4j.properties" kafka.tools.StorageTool random-uuid | tail -1)
  java -cp "$LIBS/*" -Dlog4j.configuration="file:$DIR/log4j.properties" kafka.tools.StorageTool format \
    -t "$CLUSTER_ID" -c "$PROPS" >"$DIR/logs/format.log" 2>&1 || {
    echo "scripts/kafka/start.sh: storage format failed; see $DIR/logs/format.log" >&2
    exit 1
  }
else
  PORT=$(sed -n 's/^advertised.listeners=PLAINTEXT:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$PROPS")
fi

# Readiness is judged on the log written by this start only.
LOG="$DIR/logs/server.log"
START_LINE=$( [ -f "$LOG" ] && wc -l <"$LOG" || echo 0 )
nohup java -Xms128m -Xmx"${HEAP}m" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
  -Dlog4j.configuration="file:$DIR/log4j.properties" -Dkafka.logs.dir="$DIR/logs" \
  -cp "$LIBS/*" kafka.Kafka "$PROPS" </dev/null >>"$DIR/logs/stdout.log" 2>&1 &
PID=$!
echo "$PID" >"$DIR/kafka.pid"

DEADLINE=$(( $(date +%s) + TIMEOUT ))
while :; do
  if [ -f "$LOG" ] && tail -n +"$((START_LINE + 1))" "$LOG" | grep -q 'Kafka Server started'; then break; fi
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "scripts/kafka/start.sh: the broker exited during start-up; last log lines:" >&2
    tail -n 20 "$LOG" "$DIR/logs/stdout.log" >&2 2>/dev/null || true
    exit 1
  fi
  if [ "$(date +%s)" -ge "$DEADLINE" ]; then
    echo "scripts/kafka/start.sh: the broker was not ready within ${TIMEOUT}s (pid $PID, logs in $DIR/logs); stopping it" >&2
    kill -9 "$PID" 2>/dev/null || true
    exit 1
  fi
  sleep 0.2
done
echo "KAFKA_BROKERS=127.0.0.1:$PORT"
echo "KAFKA_DIR=$DIR"
