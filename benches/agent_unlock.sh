#!/usr/bin/env bash
# Benchmark: what the unlock agent saves credential_process. Both ways in one
# run, against the local STS emulator (nothing leaves 127.0.0.1):
#
#   agent      avault exec alice --json, passphrase vault (argon2id at the
#              default cost), warm session cache, the agent holding the key
#   no-agent   the same with AVAULT_AGENT=off: every call runs argon2id
#   start      /bin/true (process start, for scale)
#
# The passphrase comes from AVAULT_PASSPHRASE in both cases; with the agent
# on it is never used once the agent holds the key (the same call with no
# passphrase source at all is checked to succeed first).
#
# Prints hyperfine's medians. Needs hyperfine and the peers of scripts/peers.
# Usage: benches/agent_unlock.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-200}"

command -v hyperfine >/dev/null || { echo "needs hyperfine: apt-get install hyperfine" >&2; exit 1; }
# A passphrase vault at the default argon2id cost: what one really pays.
world_unlock=passphrase
. benches/emulator_world.sh

# Warm the session cache (one GetSessionToken) and the agent; check that
# the agent alone serves the call.
"$avault" exec alice --json >/dev/null
env -u AVAULT_PASSPHRASE "$avault" exec alice --json >/dev/null \
    || { echo "the agent did not serve the call" >&2; exit 1; }

hyperfine -N --warmup 20 --runs "$runs" --export-json "$work/agent.json" \
    -n agent "$avault exec alice --json" -n start "/bin/true" >/dev/null
hyperfine -N --warmup 2 --runs $((runs / 20 > 5 ? runs / 20 : 5)) --export-json "$work/off.json" \
    -n no-agent "env AVAULT_AGENT=off $avault exec alice --json" >/dev/null

"$venv_bin/python" - "$work"/agent.json "$work"/off.json <<'PY'
import json, sys
rows = []
for path in sys.argv[1:]:
    for r in json.load(open(path))["results"]:
        rows.append((r["command"], r["median"] * 1000,
                     r["stddev"] * 1000 if r["stddev"] else 0.0, len(r["times"])))
print(f"{'what':<10} {'median ms':>10} {'stddev':>8} {'runs':>5}")
for name, median, dev, n in rows:
    print(f"{name:<10} {median:>10.2f} {dev:>8.2f} {n:>5}")
PY
