#!/usr/bin/env bash
# Set-up step (run by scripts/setup.sh): the Apache Kafka broker jars for the streaming encoder's integration
# tests, CLI demo and load benchmark, into the gitignored .kafka/ folder. Fast when already installed.
set -euo pipefail
exec bash "$(dirname "$0")/../kafka/install.sh" --quiet
