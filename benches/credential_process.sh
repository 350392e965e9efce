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
. benches/emulator_world.sh
printf '[alice-cli]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$key_id" "$secret" >"$AWS_SHARED_CREDENTIALS_FILE"
cat >>"$AWS_CONFIG_FILE" <<CONF

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
