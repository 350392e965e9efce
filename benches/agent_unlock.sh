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
venv_bin=$(scripts/peers | tail -n1)
export PATH="$venv_bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/avault/target}"
cargo build --release --quiet
avault="$CARGO_TARGET_DIR/release/avault"

work=$(mktemp -d)
moto_pid=
cleanup() {
    "$avault" agent --stop >/dev/null 2>&1 || true
    [ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
"$venv_bin/python" tests/support/moto_server.py 0 >"$work/moto.out" 2>"$work/moto.log" &
moto_pid=$!
for _ in $(seq 100); do grep -q '^PORT=' "$work/moto.out" && break; sleep 0.1; done
port=$(sed -n 's/^PORT=//p' "$work/moto.out")
admin_id=$(sed -n 's/^ADMIN_ACCESS_KEY_ID=//p' "$work/moto.out")
admin_secret=$(sed -n 's/^ADMIN_SECRET_ACCESS_KEY=//p' "$work/moto.out")

export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_EC2_METADATA_DISABLED=true
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 HOME="$work"
export AWS_CONFIG_FILE="$work/config" AWS_SHARED_CREDENTIALS_FILE="$work/credentials"
export AVAULT_FILE="$work/vault.age" AVAULT_TTY=none XDG_RUNTIME_DIR="$work/run"
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_VAULT \
    AVAULT_IDENTITY AVAULT_PASSPHRASE_COMMAND AVAULT_AGENT AVAULT_UNLOCK_TTL
mkdir -m 700 "$work/run"
json() { "$venv_bin/python" -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {'d': d}))" "$1"; }
admin() { AWS_ACCESS_KEY_ID="$admin_id" AWS_SECRET_ACCESS_KEY="$admin_secret" aws "$@"; }

admin iam create-user --user-name alice >/dev/null
admin iam put-user-policy --user-name alice --policy-name p \
    --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:*","Resource":"*"}]}'
key=$(admin iam create-access-key --user-name alice)
key_id=$(json 'd["AccessKey"]["AccessKeyId"]' <<<"$key")
secret=$(json 'd["AccessKey"]["SecretAccessKey"]' <<<"$key")

# The default argon2id cost: what a passphrase vault really pays.
export AVAULT_PASSPHRASE="bench passphrase"
"$avault" init 2>/dev/null
AWS_ACCESS_KEY_ID="$key_id" AWS_SECRET_ACCESS_KEY="$secret" "$avault" add alice --env 2>/dev/null

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
