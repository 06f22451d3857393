#!/usr/bin/env bash
# Stops a broker started by scripts/kafka/start.sh.
# Usage: scripts/kafka/stop.sh --dir DIR [--kill] [--delete] [--timeout-s S]
#   --kill      SIGKILL at once (simulates a crash) instead of a clean SIGTERM shutdown
#   --delete    remove DIR afterwards (data, config, logs)
#   --timeout-s how long to wait for a clean shutdown before SIGKILL [default 30]
set -euo pipefail
DIR="" KILL=0 DELETE=0 TIMEOUT=30
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR="$2"; shift 2 ;;
    --kill) KILL=1; shift ;;
    --delete) DELETE=1; shift ;;
    --timeout-s) TIMEOUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "scripts/kafka/stop.sh: unknown option '$1'; see --help" >&2; exit 2 ;;
  esac
done
[ -n "$DIR" ] || { echo "scripts/kafka/stop.sh: --dir is required (the folder start.sh printed as KAFKA_DIR)" >&2; exit 2; }

if [ -f "$DIR/kafka.pid" ]; then
  PID=$(cat "$DIR/kafka.pid")
  if kill -0 "$PID" 2>/dev/null; then
    if [ "$KILL" = 1 ]; then
      kill -9 "$PID" 2>/dev/null || true
    else
      kill -TERM "$PID" 2>/dev/null || true
    fi
    DEADLINE=$(( $(date +%s) + TIMEOUT ))
    while kill -0 "$PID" 2>/dev/null; do
      if [ "$(date +%s)" -ge "$DEADLINE" ]; then kill -9 "$PID" 2>/dev/null || true; fi
      sleep 0.1
    done
  fi
  rm -f "$DIR/kafka.pid"
fi
if [ "$DELETE" = 1 ]; then rm -rf "$DIR"; fi
