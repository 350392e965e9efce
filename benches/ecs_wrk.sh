#!/usr/bin/env bash
# Benchmark: the ECS endpoint of the real binary under wrk, end to end:
# `avault exec bench --ecs-server -- wrk …` against the STS emulator, warm
# credentials, keep-alive connections on loopback. Prints wrk's report
# (requests/s and the latency distribution: p50, p75, p90, p99).
# Needs wrk (Debian) and the peers of scripts/peers.
# Usage: benches/ecs_wrk.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
connections="${2:-16}"

command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
. benches/emulator_world.sh

# The token stays in the child's environment; only its name is in argv.
"$avault" exec bench --ecs-server -- sh -c \
    'exec wrk -t2 -c"$1" -d"$2"s --latency -H "Authorization: $AWS_CONTAINER_AUTHORIZATION_TOKEN" "$AWS_CONTAINER_CREDENTIALS_FULL_URI"' \
    wrk "$connections" "$seconds"
