#!/usr/bin/env bash
# The whole test suite: set-up (idempotent), then every vitest project, unit and integration.
# Services the integration tests need (the Kafka broker) are started by the tests' global set-up
# unless KAFKA_BROKERS points at a running broker.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec npx --no-install vitest run "$@"
