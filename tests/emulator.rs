//! Proves the STS/IAM emulator rig (tests/support/moto_server.py and
//! tests/support/emulator.rs) with the real AWS CLI and boto3 only: MFA codes
//! are checked and spent, GetSessionToken credentials act as the user,
//! AssumeRole honours MFA and ExternalId conditions and durations, the call
//! counts work, and IAM auth enforcement refuses unknown keys.
//!
//! These need the Python peers: `scripts/test` installs them (scripts/peers)
//! and runs this with `--include-ignored`.

#[path = "support/emulator.rs"]
mod emulator;

use emulator::{allow, json_of, Emulator, Keys, RoleSpec, ACCOUNT};
use serde_json::Value;
use std::process::Output;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The call failed with this AWS error code.
#[track_caller]
fn fails_with(out: &Output, code: &str, emu: &Emulator) {
    assert!(
        !out.status.success(),
        "expected {code}, got success: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr(out).contains(&format!("({code})")),
        "expected {code}: {}\nserver log tail:\n{}",
        stderr(out),
        tail(&emu.log())
    );
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Seconds from now until an STS Expiration.
fn seconds_left(expiration: &str) -> i64 {
    let at = OffsetDateTime::parse(expiration, &Rfc3339)
        .unwrap_or_else(|e| panic!("Expiration {expiration:?} is not RFC 3339: {e}"));
    (at - OffsetDateTime::now_utc()).whole_seconds()
}

#[track_caller]
fn assert_lasts(expiration: &Value, seconds: i64) {
    let left = seconds_left(expiration.as_str().expect("Expiration string"));
    assert!(
        (seconds - 15..=seconds).contains(&left),
        "Expiration {expiration} is {left} s away, expected about {seconds}"
    );
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn session_token_with_mfa_acts_as_the_user() {
    let emu = Emulator::start();
    let alice = emu.create_user("alice", &allow(&["iam:GetUser"]));
    let mfa = emu.create_virtual_mfa(&alice);
    emu.enforce_auth();

    let code = mfa.code_now();
    let got = json_of(&emu.aws(
        &alice.keys(),
        &[
            "sts",
            "get-session-token",
            "--serial-number",
            &mfa.serial,
            "--token-code",
            &code,
            "--duration-seconds",
            "900",
        ],
    ));
    let creds = &got["Credentials"];
    assert_lasts(&creds["Expiration"], 900);
    let session = Keys::from_sts(creds);
    assert!(session.access_key_id.starts_with("ASIA"), "{creds}");
    assert_ne!(session.access_key_id, alice.access_key_id);

    // The CLI and boto3 both see the user behind the session.
    let who = json_of(&emu.aws(&session, &["sts", "get-caller-identity"]));
    assert_eq!(who["Arn"], alice.arn);
    assert_eq!(who["Account"], ACCOUNT);
    let out = emu.python(
        &session,
        "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])",
        &[],
    );
    assert!(out.status.success(), "boto3: {}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), alice.arn);

    // Authorized as alice: her policy allows iam:GetUser, nothing else.
    let user = json_of(&emu.aws(&session, &["iam", "get-user"]));
    assert_eq!(user["User"]["Arn"], alice.arn);
    fails_with(
        &emu.aws(&session, &["iam", "list-users"]),
        "AccessDenied",
        &emu,
    );

    // Session credentials cannot get another session (as in AWS).
    fails_with(
        &emu.aws(&session, &["sts", "get-session-token"]),
        "AccessDenied",
        &emu,
    );
    // A tampered session token is refused.
    let mut forged = session.clone();
    forged.session_token = Some("FQoGZXIvYXdzEBYaDforged".to_owned());
    fails_with(
        &emu.aws(&forged, &["sts", "get-caller-identity"]),
        "InvalidClientTokenId",
        &emu,
    );
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn wrong_and_reused_codes_are_refused() {
    let emu = Emulator::start();
    let bob = emu.create_user("bob", &allow(&["sts:GetCallerIdentity"]));
    let mfa = emu.create_virtual_mfa(&bob);
    emu.enforce_auth();
    let get = |code: &str| {
        emu.aws(
            &bob.keys(),
            &[
                "sts",
                "get-session-token",
                "--serial-number",
                &mfa.serial,
                "--token-code",
                code,
            ],
        )
    };

    let wrong = get(&mfa.wrong_code());
    fails_with(&wrong, "AccessDenied", &emu);
    assert!(
        stderr(&wrong)
            .contains("MultiFactorAuthentication failed with invalid MFA one time pass code"),
        "{}",
        stderr(&wrong)
    );

    let step = emulator::current_step();
    let code = mfa.code_at(step);
    let first = json_of(&get(&code));
    assert_lasts(&first["Credentials"]["Expiration"], 43200); // the AWS default

    let reused = get(&code);
    fails_with(&reused, "AccessDenied", &emu);
    assert!(
        stderr(&reused)
            .contains("MultiFactorAuthentication failed with invalid MFA one time pass code"),
        "{}",
        stderr(&reused)
    );

    // Carol's device is not bob's second factor.
    let carol = emu.create_user("carol", &allow(&["sts:GetCallerIdentity"]));
    let carols = emu.create_virtual_mfa(&carol);
    let foreign = emu.aws(
        &bob.keys(),
        &[
            "sts",
            "get-session-token",
            "--serial-number",
            &carols.serial,
            "--token-code",
            &carols.code_now(),
        ],
    );
    fails_with(&foreign, "AccessDenied", &emu);

    // Out of range durations are refused as AWS does.
    let long = emu.aws(
        &bob.keys(),
        &["sts", "get-session-token", "--duration-seconds", "200000"],
    );
    fails_with(&long, "ValidationError", &emu);
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn assume_role_with_mfa_reports_the_role() {
    let emu = Emulator::start();
    let dave = emu.create_user("dave", &allow(&["sts:AssumeRole"]));
    let mfa = emu.create_virtual_mfa(&dave);
    let role = emu.create_role(
        "admin",
        &RoleSpec::trusting(&dave.arn)
            .require_mfa()
            .max_session_duration(7200)
            .policy(allow(&["iam:ListUsers"])),
    );
    emu.enforce_auth();

    // boto3 as the client this time.
    let assume = r#"
import boto3, json, sys
kw = dict(RoleArn=sys.argv[1], RoleSessionName="rig", DurationSeconds=int(sys.argv[2]))
if len(sys.argv) > 3:
    kw.update(SerialNumber=sys.argv[3], TokenCode=sys.argv[4])
try:
    r = boto3.client("sts").assume_role(**kw)
except Exception as e:
    print(json.dumps({"error": e.response["Error"]["Code"], "message": e.response["Error"]["Message"]}))
else:
    c = r["Credentials"]
    print(json.dumps({"arn": r["AssumedRoleUser"]["Arn"], "Credentials": {
        "AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
        "SessionToken": c["SessionToken"], "Expiration": c["Expiration"].isoformat()}}))
"#;
    // Without MFA the trust policy's aws:MultiFactorAuthPresent fails.
    let refused = json_of(&emu.python(&dave.keys(), assume, &[&role.arn, "3600"]));
    assert_eq!(refused["error"], "AccessDenied", "{refused}");
    // Longer than the role's MaxSessionDuration.
    let step = emulator::current_step();
    let code = mfa.code_at(step);
    let too_long = json_of(&emu.python(
        &dave.keys(),
        assume,
        &[&role.arn, "7201", &mfa.serial, &code],
    ));
    assert_eq!(too_long["error"], "ValidationError", "{too_long}");

    let got = json_of(&emu.python(
        &dave.keys(),
        assume,
        &[&role.arn, "7200", &mfa.serial, &code],
    ));
    let session_arn = format!("arn:aws:sts::{ACCOUNT}:assumed-role/admin/rig");
    assert_eq!(got["arn"], session_arn, "{got}");
    assert_lasts(&got["Credentials"]["Expiration"], 7200);
    let role_keys = Keys::from_sts(&got["Credentials"]);

    let who = json_of(&emu.aws(&role_keys, &["sts", "get-caller-identity"]));
    assert_eq!(who["Arn"], session_arn);
    // The role's policy applies, not dave's.
    json_of(&emu.aws(&role_keys, &["iam", "list-users"]));

    // MFA'd session credentials satisfy the condition with no code.
    let session = Keys::from_sts(
        &json_of(&emu.aws(
            &dave.keys(),
            &[
                "sts",
                "get-session-token",
                "--serial-number",
                &mfa.serial,
                "--token-code",
                // `step` is spent; the next step's code is already good (+-1).
                &mfa.code_at(step + 1),
            ],
        ))["Credentials"],
    );
    let chained = json_of(&emu.aws(
        &session,
        &[
            "sts",
            "assume-role",
            "--role-arn",
            &role.arn,
            "--role-session-name",
            "via-session",
        ],
    ));
    assert_eq!(
        chained["AssumedRoleUser"]["Arn"],
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/admin/via-session")
    );
    assert_lasts(&chained["Credentials"]["Expiration"], 3600);
    // ... but session credentials without MFA do not.
    let plain = Keys::from_sts(
        &json_of(&emu.aws(&dave.keys(), &["sts", "get-session-token"]))["Credentials"],
    );
    fails_with(
        &emu.aws(
            &plain,
            &[
                "sts",
                "assume-role",
                "--role-arn",
                &role.arn,
                "--role-session-name",
                "no-mfa",
            ],
        ),
        "AccessDenied",
        &emu,
    );
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn external_id_is_enforced() {
    let emu = Emulator::start();
    let erin = emu.create_user("erin", &allow(&["sts:AssumeRole"]));
    let role = emu.create_role(
        "vendor",
        &RoleSpec::trusting(&erin.arn).external_id("ext-7f3a"),
    );
    let assume = |extra: &[&str]| {
        let mut args = vec![
            "sts",
            "assume-role",
            "--role-arn",
            &role.arn,
            "--role-session-name",
            "ext",
        ];
        args.extend_from_slice(extra);
        emu.aws(&erin.keys(), &args)
    };
    // Both with moto's auth enforcement off (setup phase) and on.
    for enforced in [false, true] {
        if enforced {
            emu.enforce_auth();
        }
        fails_with(&assume(&[]), "AccessDenied", &emu);
        fails_with(&assume(&["--external-id", "wrong"]), "AccessDenied", &emu);
        let got = json_of(&assume(&["--external-id", "ext-7f3a"]));
        assert_eq!(
            got["AssumedRoleUser"]["Arn"],
            format!("arn:aws:sts::{ACCOUNT}:assumed-role/vendor/ext"),
            "enforced={enforced}"
        );
    }
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn counts_increment_and_reset() {
    let emu = Emulator::start();
    let frank = emu.create_user("frank", &allow(&["sts:AssumeRole"]));
    let role = emu.create_role("counted", &RoleSpec::trusting(&frank.arn));
    emu.enforce_auth();
    assert!(emu.counts().values().all(|n| *n == 0), "{:?}", emu.counts());

    for _ in 0..2 {
        json_of(&emu.aws(&frank.keys(), &["sts", "get-caller-identity"]));
    }
    json_of(&emu.aws(&frank.keys(), &["sts", "get-session-token"]));
    json_of(&emu.aws(
        &frank.keys(),
        &[
            "sts",
            "assume-role",
            "--role-arn",
            &role.arn,
            "--role-session-name",
            "counted",
        ],
    ));
    // A refused call is a call too.
    let stranger = Keys {
        access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY".into(),
        session_token: None,
    };
    fails_with(
        &emu.aws(&stranger, &["sts", "get-session-token"]),
        "InvalidClientTokenId",
        &emu,
    );

    let counts = emu.counts();
    assert_eq!(counts["GetCallerIdentity"], 2, "{counts:?}");
    assert_eq!(counts["GetSessionToken"], 2, "{counts:?}");
    assert_eq!(counts["AssumeRole"], 1, "{counts:?}");
    assert_eq!(emu.count("GetFederationToken"), 0);

    emu.reset_counts();
    assert!(emu.counts().values().all(|n| *n == 0), "{:?}", emu.counts());
    json_of(&emu.aws(&frank.keys(), &["sts", "get-caller-identity"]));
    assert_eq!(emu.count("GetCallerIdentity"), 1);
}

#[test]
#[ignore = "needs moto: run scripts/test"]
fn auth_enforcement_rejects_unknown_keys() {
    let emu = Emulator::start();
    let grace = emu.create_user("grace", &allow(&["sts:GetCallerIdentity"]));
    let stranger = Keys {
        access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY".into(),
        session_token: None,
    };
    // Before enforcement moto answers anyone.
    json_of(&emu.aws(&stranger, &["sts", "get-caller-identity"]));

    emu.enforce_auth();
    fails_with(
        &emu.aws(&stranger, &["sts", "get-caller-identity"]),
        "InvalidClientTokenId",
        &emu,
    );
    let mut bad_secret = grace.keys();
    bad_secret.secret_access_key = stranger.secret_access_key.clone();
    fails_with(
        &emu.aws(&bad_secret, &["sts", "get-caller-identity"]),
        "SignatureDoesNotMatch",
        &emu,
    );
    let who = json_of(&emu.aws(&grace.keys(), &["sts", "get-caller-identity"]));
    assert_eq!(who["Arn"], grace.arn);
    // Known key, action outside its policy.
    fails_with(
        &emu.aws(&grace.keys(), &["iam", "list-users"]),
        "AccessDenied",
        &emu,
    );
    // The setup helpers keep working: they run as the launcher's admin.
    let later = emu.create_user("later", &allow(&["sts:GetCallerIdentity"]));
    let who = json_of(&emu.aws(&later.keys(), &["sts", "get-caller-identity"]));
    assert_eq!(who["Arn"], later.arn);
}
