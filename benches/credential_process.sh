#!/usr/bin/env bash
# Benchmark: `aws sts get-caller-identity` for a role, with warm caches,
# three ways, plus the bare avault call, in one run against the local
# STS emulator (no AWS account, nothing leaves 127.0.0.1):
#
#   avault-cp   credential_process = avault exec bench --json (age identity unlock, warm session cache)
#   awscli      the AWS CLI's own role assumption (source_profile + role_arn, its JSON cache warm)
#   awsume      `. awsume bench-cli` (its shell wrapper), then the AWS CLI (awsume's cache warm)
#   bare        avault exec bench --json alone (what credential_process costs)
#   start       /bin/true (process start, for scale)
#
# Prints hyperfine's medians and the ratios. Needs hyperfine (Debian) and
# the peers of scripts/peers. Usage: benches/credential_process.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-30}"

command -v hyperfine >/dev/null || { echo "needs hyperfine: apt-get install hyperfine" >&2; exit 1; }
venv_bin=$(scripts/peers | tail -n1)
export PATH="$venv_bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/avault/target}"
cargo build --release --quiet
avault="$CARGO_TARGET_DIR/release/avault"

work=$(mktemp -d)
moto_pid=
cleanup() { [ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null; rm -rf "$work"; }
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
export AVAULT_FILE="$work/vault.age" AVAULT_TTY=none
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_VAULT
json() { "$venv_bin/python" -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {}, {'d': d}))" "$1"; }
admin() { AWS_ACCESS_KEY_ID="$admin_id" AWS_SECRET_ACCESS_KEY="$admin_secret" aws "$@"; }

admin iam create-user --user-name alice >/dev/null
admin iam put-user-policy --user-name alice --policy-name p \
    --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:*","Resource":"*"}]}'
key=$(admin iam create-access-key --user-name alice)
key_id=$(json 'd["AccessKey"]["AccessKeyId"]' <<<"$key")
secret=$(json 'd["AccessKey"]["SecretAccessKey"]' <<<"$key")
alice_arn=$(admin iam get-user --user-name alice | json 'd["User"]["Arn"]')
trust=$(printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"%s"},"Action":"sts:AssumeRole"}]}' "$alice_arn")
role_arn=$(admin iam create-role --role-name bench --assume-role-policy-document "$trust" | json 'd["Role"]["Arn"]')
admin iam put-role-policy --role-name bench --policy-name p \
    --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:GetCallerIdentity","Resource":"*"}]}'

age-keygen -o "$work/id.txt" 2>/dev/null
export AVAULT_IDENTITY="$work/id.txt"
"$avault" init --recipient "$(age-keygen -y "$work/id.txt")" 2>/dev/null
AWS_ACCESS_KEY_ID="$key_id" AWS_SECRET_ACCESS_KEY="$secret" "$avault" add alice --env 2>/dev/null
printf '[alice-cli]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$key_id" "$secret" >"$AWS_SHARED_CREDENTIALS_FILE"
cat >>"$AWS_CONFIG_FILE" <<CONF

[profile bench]
source_profile = alice
role_arn = $role_arn

[profile avault-cp]
credential_process = $avault exec bench --json

[profile bench-cli]
source_profile = alice-cli
role_arn = $role_arn
CONF

# Warm every cache once.
"$avault" exec bench --json >/dev/null
AWS_PROFILE=avault-cp aws sts get-caller-identity >/dev/null
AWS_PROFILE=bench-cli aws sts get-caller-identity >/dev/null
( . "$venv_bin/awsume" bench-cli >/dev/null; aws sts get-caller-identity >/dev/null )

hyperfine --shell=none --warmup 3 --runs "$runs" --export-json "$work/cli.json" \
    -n avault-cp "env AWS_PROFILE=avault-cp aws sts get-caller-identity" \
    -n awscli "env AWS_PROFILE=bench-cli aws sts get-caller-identity" >/dev/null
hyperfine --shell=bash --warmup 3 --runs "$runs" --export-json "$work/awsume.json" \
    -n awsume ". '$venv_bin/awsume' bench-cli >/dev/null; aws sts get-caller-identity" >/dev/null
hyperfine -N --warmup 20 --runs $((runs * 10)) --export-json "$work/bare.json" \
    -n bare "$avault exec bench --json" -n start "/bin/true" >/dev/null

"$venv_bin/python" - "$work"/cli.json "$work"/awsume.json "$work"/bare.json <<'PY'
import json, sys
rows = []
for path in sys.argv[1:]:
    for r in json.load(open(path))["results"]:
        rows.append((r["command"], r["median"] * 1000, r["stddev"] * 1000 if r["stddev"] else 0.0))
base = dict((n, m) for n, m, _ in rows)["avault-cp"]
print(f"{'what':<10} {'median ms':>10} {'stddev':>8} {'vs avault-cp':>13}")
for name, median, dev in rows:
    print(f"{name:<10} {median:>10.2f} {dev:>8.2f} {median / base:>12.2f}x")
PY
