#!/usr/bin/env bash
# Installs the Apache Kafka broker (3.9.1, KRaft) jars into <repo>/.kafka/libs from Maven Central, using the
# small pom beside this script. Idempotent: does nothing when the jars for the current pom are already there.
# Needs java (17+) and mvn on PATH. Usage: scripts/kafka/install.sh [--quiet]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
KAFKA_HOME="${KAFKA_HOME:-$ROOT/.kafka}"
LIBS="$KAFKA_HOME/libs"
QUIET=0
[ "${1:-}" = "--quiet" ] && QUIET=1
log() { [ "$QUIET" = 1 ] || printf '[kafka/install] %s\n' "$*" >&2; }

for tool in java mvn; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "scripts/kafka/install.sh: '$tool' is not on PATH; install a JDK 17+ and Maven (e.g. apt-get install openjdk-17-jdk-headless maven)" >&2
    exit 1
  fi
done

STAMP=$(sha256sum "$HERE/pom.xml" | cut -c1-16)
if [ -f "$LIBS/.stamp" ] && [ "$(cat "$LIBS/.stamp")" = "$STAMP" ] && ls "$LIBS"/kafka_2.13-*.jar >/dev/null 2>&1; then
  log "already installed in $LIBS"
  exit 0
fi

log "downloading the Kafka 3.9.1 jars into $LIBS (mvn dependency:copy-dependencies)"
TMP="$KAFKA_HOME/libs.tmp.$$"
rm -rf "$TMP"
mkdir -p "$KAFKA_HOME"
if ! mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$TMP" \
  >"$KAFKA_HOME/install.log" 2>&1; then
  echo "scripts/kafka/install.sh: mvn failed; see $KAFKA_HOME/install.log" >&2
  rm -rf "$TMP"
  exit 1
fi
echo "$STAMP" >"$TMP/.stamp"
rm -rf "$LIBS"
mv "$TMP" "$LIBS"
log "installed $(ls "$LIBS"/*.jar | wc -l) jars"
