# The world of the emulator benchmarks, sourced by them: the STS emulator on
# 127.0.0.1, a user alice allowed sts:*, a role `bench` she may assume, a
# vault holding her key, and `[profile bench]` in a private AWS config. The
# vault opens with an age identity (AVAULT_IDENTITY), or with
# world_unlock=passphrase set before sourcing, with a passphrase
# (AVAULT_PASSPHRASE, argon2id at the default cost). Each world has its own
# unlock agent (XDG_RUNTIME_DIR), stopped on exit. Leaves: $avault, $venv_bin, $work (removed on exit), $key_id,
# $secret, $role_arn, and `admin` / `json` helpers. Needs the peers of
# scripts/peers and the age CLI.
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
    AVAULT_IDENTITY AVAULT_PASSPHRASE AVAULT_PASSPHRASE_COMMAND AVAULT_AGENT AVAULT_UNLOCK_TTL
mkdir -m 700 "$work/run"
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

if [ "${world_unlock:-identity}" = passphrase ]; then
    export AVAULT_PASSPHRASE="bench passphrase"
    "$avault" init 2>/dev/null
else
    age-keygen -o "$work/id.txt" 2>/dev/null
    export AVAULT_IDENTITY="$work/id.txt"
    "$avault" init --recipient "$(age-keygen -y "$work/id.txt")" 2>/dev/null
fi
AWS_ACCESS_KEY_ID="$key_id" AWS_SECRET_ACCESS_KEY="$secret" "$avault" add alice --env 2>/dev/null
cat >>"$AWS_CONFIG_FILE" <<CONF

[profile bench]
source_profile = alice
role_arn = $role_arn
CONF
