#!/usr/bin/env python3
"""moto as the STS/IAM emulator for avault's integration tests.

    python moto_server.py PORT [--exit-on-stdin-eof]

Listens on 127.0.0.1:PORT (0 picks a free port) and prints, once listening:

    ADMIN_ACCESS_KEY_ID=...     an IAM user "avault-admin" allowed everything,
    ADMIN_SECRET_ACCESS_KEY=... usable for setup before and after IAM auth
    PORT=<n>                    enforcement is switched on

With --exit-on-stdin-eof the server exits when its stdin closes, so a test
process that dies without cleaning up does not leave it behind.

Stock moto (5.2) accepts any MFA code and hands out one fixed set of
GetSessionToken credentials. This launcher patches moto in-process so that
STS behaves as AWS does where avault depends on it:

* MFA. GetSessionToken and AssumeRole with SerialNumber+TokenCode need the
  RFC 6238 code (SHA1, 6 digits, 30 s) of the virtual MFA device's seed
  (CreateVirtualMFADevice's Base32StringSeed) at the current step +-1. The
  device must be enabled for a user (EnableMFADevice, which now checks its two
  consecutive codes) and, when the caller is known, for the calling user. A
  wrong code, or a code of a step at or before the last step accepted for that
  serial (a reused code), fails with 403 AccessDenied "MultiFactorAuthentication
  failed with invalid MFA one time pass code.".
* GetSessionToken returns fresh credentials that act as the calling IAM user:
  moto's IAM auth enforcement authorizes them with the user's policies,
  GetCallerIdentity reports the user. Calling it with session credentials is
  refused as AWS does. DurationSeconds is range-checked (900..129600) and the
  Expiration is now + DurationSeconds. Expired session credentials (these and
  AssumeRole's) are refused with ExpiredToken.
* AssumeRole: DurationSeconds is checked against 900..43200, the role's
  MaxSessionDuration and the 1 h role-chaining cap. The role's trust policy is
  evaluated with a real condition engine (StringEquals/Like/Not..., Bool, Null,
  Numeric..., Date..., Arn..., ...IfExists) against a request context that has
  sts:ExternalId, aws:MultiFactorAuthPresent / aws:MultiFactorAuthAge (true
  when the request carries MFA or the caller's credentials were issued with
  MFA; absent for long-term keys, as in AWS), sts:RoleSessionName,
  sts:SourceIdentity, aws:PrincipalArn, aws:username, ... With auth
  enforcement on, this replaces moto's check (which ignored a missing
  ExternalId, treated unmet Allow conditions as explicit denies and knew only
  StringEquals); with it off, the trust policy's conditions are still honoured.
  A role that does not exist cannot be assumed while enforcement is on.
* Identity policies are evaluated with the same engine (Allow/Deny, NotAction,
  NotResource, conditions), so "deny unless MFA" policies work.
* Counts: GET /avault/counts answers {"GetSessionToken": n, "AssumeRole": n,
  ...}, every STS request received per action (refused ones included);
  POST /avault/counts/reset zeroes them.
* STS and IAM error bodies use AWS's shape (<ErrorResponse><Error>...).
* Lifetime: POST /avault/lifetime with {"seconds": n} makes every
  GetSessionToken and AssumeRole answer from then on expire n seconds after
  issue, whatever DurationSeconds asked (and the credentials stop working
  then); {"seconds": null} ends that. Tests of refresh-before-expiry use it.
* IAM counts: GET /avault/iam-counts answers {"CreateAccessKey": n, ...},
  every IAM request received per action (the setup's included, which is why
  they are kept apart from the STS counts); POST /avault/counts/reset zeroes
  them too. A request is counted when it arrives, before any fault below.
* IAM faults, for tests of what a client does when IAM misbehaves:
  POST /avault/faults with a JSON body
      {"action": "DeleteAccessKey", "mode": "stall", "seconds": 30}
          every request of that action sleeps that long before it is handled;
      {"action": "DeleteAccessKey", "mode": "fail"[, "status": 500,
       "code": "ServiceFailure"][, "times": 1]}
          requests of that action are answered with that error (default
          403 AccessDenied) and not handled; with "times", only that many;
      {} clears every fault. One fault per action; a new one replaces it.
  Stock moto already refuses a third access key for a user (409
  LimitExceeded), as AWS does.

* SSO (IAM Identity Center), which moto lacks: a small fake of the OIDC
  device flow and the portal's GetRoleCredentials, answering on this same
  port (moto has no routes at these paths):
      POST /client/register        {"clientName","clientType","scopes"?} ->
                                   {"clientId","clientSecret","clientIdIssuedAt","clientSecretExpiresAt"}
      POST /device_authorization   {"clientId","clientSecret","startUrl"} ->
                                   {"deviceCode","userCode","verificationUri",
                                    "verificationUriComplete","expiresIn": 600,"interval": 1}
      POST /token                  {"clientId","clientSecret","deviceCode","grantType"} ->
                                   200 {"accessToken","expiresIn": 28800,"tokenType":"Bearer",
                                        "refreshToken"?}, or
                                   400 {"error": "authorization_pending" | "expired_token" |
                                        "access_denied" | "invalid_client" | "invalid_grant"}
                                   As AWS, a refreshToken comes only when the client was
                                   registered with scopes that include sso:account:access
                                   (the sso_session style; none for the legacy style).
                                   {"clientId","clientSecret","grantType": "refresh_token",
                                    "refreshToken"} -> 200 a new accessToken and a new
                                   refreshToken (rotated: the old one is spent), or 400
                                   {"error": "invalid_grant"} for an unknown, spent, revoked
                                   or other client's refresh token.
      GET  /federation/credentials?account_id=..&role_name=..  (header
           x-amz-sso_bearer_token) -> {"roleCredentials": {"accessKeyId",
           "secretAccessKey","sessionToken","expiration" (epoch ms)}}: REAL
           credentials of role ROLE_NAME in ACCOUNT_ID, minted through moto's
           STS backend as an assumed-role session (they work under IAM auth
           enforcement); 401 for an unknown or revoked token, 403 when the
           role does not exist.
  Test controls:
      POST /avault/sso/approve {"userCode": "ABCD-1234"} confirms that code;
          add "deny": true to refuse it or "expire": true to let it expire;
          without "userCode", every pending code.
      GET  /avault/sso/pending   the pending user codes, oldest first
      POST /avault/sso/revoke    {} revokes every access and refresh token issued
                                 so far (a sign-out); {"only": "access"} or
                                 {"only": "refresh"} revokes just that kind
      POST /avault/sso/token-lifetime {"seconds": n} access tokens issued from
                                 now on expire after n seconds (null: 8 h again)
      GET  /avault/sso/counts    {"RegisterClient","StartDeviceAuthorization",
                                  "CreateToken","GetRoleCredentials"}: requests
                                  received (refused ones included), and
                                  "CreateToken:device_code" / "CreateToken:refresh_token"
                                  (CreateToken by grant type; "CreateToken" counts
                                  all); reset by POST /avault/counts/reset

IAM auth enforcement is moto's own: POST /moto-api/reset-auth with body 0.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import fnmatch
import hashlib
import hmac
import json
import os
import re
import struct
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from werkzeug.exceptions import HTTPException

from moto import settings
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.iam import access_control
from moto.iam.access_control import (
    CreateAccessKeyFailure,
    IAMPolicy,
    IAMPolicyStatement,
    IAMRequestBase,
    IAMUserAccessKey,
    PermissionResult,
    S3IAMRequest,
)
from moto.iam.models import IAMBackend, iam_backends
from moto.iam.responses import IamResponse
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.sts.models import STSBackend, Token, sts_backends
from moto.sts.responses import TokenResponse
from moto.sts.utils import random_session_token
from moto.utilities.utils import get_partition

STEP_SECONDS = 30
ADMIN_USER = "avault-admin"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
MFA_INVALID = "MultiFactorAuthentication failed with invalid MFA one time pass code."
MFA_UNKNOWN = "MultiFactorAuthentication failed, unable to validate MFA code."
MFA_INCOMPLETE = (
    "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code."
)


def log(msg: str) -> None:
    print(f"avault-moto: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Errors in AWS's query-protocol shape


class AwsError(HTTPException):
    """An error answered as AWS does: <ErrorResponse><Error>...</Error>."""

    def __init__(self, status: int, code: str, message: str, namespace: str = STS_NS):
        super().__init__()
        self.code = status
        self.error_code = code
        self.message = message
        self.description = (
            f'<ErrorResponse xmlns="{namespace}">'
            f"<Error><Type>Sender</Type><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        )

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [("Content-Type", "text/xml"), ("X-Amzn-ErrorType", self.error_code)]

    def get_body(self, *args: Any, **kwargs: Any) -> str:
        return self.description


def access_denied(message: str) -> AwsError:
    return AwsError(403, "AccessDenied", message)


def validation_error(message: str) -> AwsError:
    return AwsError(400, "ValidationError", message)


# moto's own errors wrap <Error> in <Errors>; rewrite to AWS's shape.
_MOTO_ERROR = re.compile(
    r"^\s*(?:<\?xml[^>]*\?>)?\s*<ErrorResponse>\s*<Errors>\s*(<Error>.*?</Error>)\s*</Errors>\s*(.*?)</ErrorResponse>\s*$",
    re.S,
)


def aws_error_shape(body: Any, namespace: str) -> Any:
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return body
    elif isinstance(body, str):
        text = body
    else:
        return body
    m = _MOTO_ERROR.match(text)
    if not m:
        return body
    rest = m.group(2)
    if "<RequestId>" not in rest:
        rest = f"<RequestId>{uuid.uuid4()}</RequestId>"
    fixed = f'<ErrorResponse xmlns="{namespace}">{m.group(1)}{rest}</ErrorResponse>'
    return fixed.encode("utf-8") if isinstance(body, bytes) else fixed


# --------------------------------------------------------------------------
# TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30 s) and replay protection


def totp(seed_base32: str, step: int) -> str:
    seed = seed_base32.strip().replace(" ", "").upper()
    key = base64.b32decode(seed + "=" * (-len(seed) % 8))
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def current_step() -> int:
    return int(time.time()) // STEP_SECONDS


class MfaLedger:
    """The last time step accepted per serial; a code is good once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, int] = {}

    def verify(self, serial: str, seed: str, code: str) -> bool:
        with self._lock:
            now = current_step()
            for step in (now - 1, now, now + 1):
                if hmac.compare_digest(totp(seed, step), code):
                    last = self._last.get(serial)
                    if last is not None and step <= last:
                        log(f"MFA {serial}: code of step {step} refused (step {last} already used)")
                        return False
                    self._last[serial] = step
                    return True
            log(f"MFA {serial}: code matches no step in {now - 1}..{now + 1}")
            return False

    def verify_pair(self, serial: str, seed: str, code1: str, code2: str) -> bool:
        """EnableMFADevice: two consecutive codes of a recent window."""
        with self._lock:
            now = current_step()
            for step in range(now - 4, now + 1):
                if hmac.compare_digest(totp(seed, step), code1) and hmac.compare_digest(
                    totp(seed, step + 1), code2
                ):
                    self._last[serial] = max(self._last.get(serial, step + 1), step + 1)
                    return True
            log(f"MFA {serial}: EnableMFADevice codes are not two consecutive recent codes")
            return False


MFA = MfaLedger()


# --------------------------------------------------------------------------
# Who is calling, and the credentials we issued


@dataclass
class SessionCreds:
    """GetSessionToken credentials: they act as user_name."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    account_id: str
    partition: str
    user_name: str
    issued: datetime.datetime
    expiration: datetime.datetime
    mfa_time: float | None


SESSIONS: dict[str, SessionCreds] = {}
# AssumeRole credentials issued with MFA (or from MFA'd credentials): key -> time.
ROLE_MFA: dict[str, float] = {}
ROLE_ISSUED: dict[str, datetime.datetime] = {}

_original_get_user_from_access_key_id = IAMBackend.get_user_from_access_key_id


@dataclass
class Caller:
    kind: str  # "user" (long-term key), "session", "role", "unknown"
    arn: str | None
    account_id: str
    user: Any = None
    role: Any = None
    mfa_time: float | None = None
    issued: datetime.datetime | None = None

    @property
    def principal_arn(self) -> str | None:
        """aws:PrincipalArn: for a role session, the role's ARN."""
        if self.kind == "role" and self.role is not None:
            return self.role.role_arn
        return self.arn


def identify(access_key_id: str, account_id: str, partition: str) -> Caller:
    sess = SESSIONS.get(access_key_id)
    if sess is not None:
        user = iam_backends[sess.account_id][sess.partition].users.get(sess.user_name)
        arn = user.arn if user is not None else None
        return Caller("session", arn, sess.account_id, user, None, sess.mfa_time, sess.issued)
    role = sts_backends[account_id][partition].get_assumed_role_from_access_key(access_key_id)
    if role is not None:
        return Caller(
            "role",
            role.arn,
            role.account_id,
            None,
            role,
            ROLE_MFA.get(access_key_id),
            ROLE_ISSUED.get(access_key_id),
        )
    user = _original_get_user_from_access_key_id(iam_backends[account_id][partition], access_key_id)
    if user is not None:
        return Caller("user", user.arn, user.account_id, user)
    return Caller("unknown", None, account_id)


def flat_params(data: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (data or {}).items():
        if isinstance(value, (list, tuple)):
            if value:
                out[key] = str(value[0])
        elif value is not None:
            out[key] = str(value)
    return out


def request_context(caller: Caller, action: str, params: dict[str, str], region: str) -> dict[str, Any]:
    """The IAM condition keys of one request."""
    now = time.time()
    ctx: dict[str, Any] = {
        "aws:CurrentTime": datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
        "aws:EpochTime": str(int(now)),
        "aws:SecureTransport": "false",
        "aws:RequestedRegion": region,
    }
    if caller.principal_arn:
        ctx["aws:PrincipalArn"] = caller.principal_arn
        ctx["aws:PrincipalAccount"] = caller.account_id
    if caller.kind in ("user", "session") and caller.user is not None:
        ctx["aws:username"] = caller.user.name
        ctx["aws:userid"] = caller.user.id
        ctx["aws:PrincipalType"] = "User"
    if caller.kind == "role":
        ctx["aws:PrincipalType"] = "AssumedRole"
        if caller.role is not None:
            ctx["aws:userid"] = caller.role.user_id
    if caller.kind in ("session", "role"):
        ctx["aws:MultiFactorAuthPresent"] = "true" if caller.mfa_time else "false"
        if caller.mfa_time:
            ctx["aws:MultiFactorAuthAge"] = str(int(now - caller.mfa_time))
        if caller.issued is not None:
            ctx["aws:TokenIssueTime"] = caller.issued.strftime("%Y-%m-%dT%H:%M:%SZ")
    if action.lower() in ("sts:assumerole", "sts:getsessiontoken") and params.get("SerialNumber") and params.get(
        "TokenCode"
    ):
        ctx["aws:MultiFactorAuthPresent"] = "true"
        ctx["aws:MultiFactorAuthAge"] = "0"
    if "ExternalId" in params:
        ctx["sts:ExternalId"] = params["ExternalId"]
    if "RoleSessionName" in params:
        ctx["sts:RoleSessionName"] = params["RoleSessionName"]
    if "SourceIdentity" in params:
        ctx["sts:SourceIdentity"] = params["SourceIdentity"]
    return ctx


# --------------------------------------------------------------------------
# Policy evaluation: statements, principals, conditions

_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
}


def _glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _date(text: str) -> float | None:
    number = _number(text)
    if number is not None:
        return number
    try:
        parsed = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def _compare(convert: Any, test: Any) -> Any:
    def op(actual: str, expected: str) -> bool:
        a, e = convert(actual), convert(expected)
        return a is not None and e is not None and test(a, e)

    return op


_OPERATORS: dict[str, Any] = {
    "StringEquals": lambda a, e: a == e,
    "StringEqualsIgnoreCase": lambda a, e: a.lower() == e.lower(),
    "StringLike": lambda a, e: _glob(e, a),
    "ArnEquals": lambda a, e: _glob(e, a),
    "ArnLike": lambda a, e: _glob(e, a),
    "Bool": lambda a, e: a.lower() == e.lower(),
    "NumericEquals": _compare(_number, lambda a, e: a == e),
    "NumericLessThan": _compare(_number, lambda a, e: a < e),
    "NumericLessThanEquals": _compare(_number, lambda a, e: a <= e),
    "NumericGreaterThan": _compare(_number, lambda a, e: a > e),
    "NumericGreaterThanEquals": _compare(_number, lambda a, e: a >= e),
    "DateEquals": _compare(_date, lambda a, e: a == e),
    "DateLessThan": _compare(_date, lambda a, e: a < e),
    "DateLessThanEquals": _compare(_date, lambda a, e: a <= e),
    "DateGreaterThan": _compare(_date, lambda a, e: a > e),
    "DateGreaterThanEquals": _compare(_date, lambda a, e: a >= e),
}


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def condition_holds(operator: str, key: str, expected_raw: Any, ctx: dict[str, Any]) -> bool:
    expected = [_text(v) for v in _as_list(expected_raw)]
    op = operator
    if ":" in op:  # ForAnyValue: / ForAllValues: on single-valued keys
        op = op.split(":", 1)[1]
    if_exists = op.endswith("IfExists")
    if if_exists:
        op = op[: -len("IfExists")]
    lowered = {k.lower(): v for k, v in ctx.items()}
    present = key.lower() in lowered
    if op == "Null":
        want_absent = bool(expected) and expected[0].lower() == "true"
        return (not present) == want_absent
    negated = op in _NEGATED
    base = _NEGATED.get(op, op)
    test = _OPERATORS.get(base)
    if test is None:
        log(f"condition operator {operator} is not supported: treated as not met")
        return False
    if not present:
        return if_exists or negated
    actuals = [_text(v) for v in _as_list(lowered[key.lower()])]
    if negated:
        return all(not any(test(a, e) for e in expected) for a in actuals)
    return any(test(a, e) for a in actuals for e in expected)


def conditions_hold(conditions: Any, ctx: dict[str, Any]) -> bool:
    if not conditions:
        return True
    for operator, block in conditions.items():
        for key, expected in (block or {}).items():
            if not condition_holds(operator, key, expected, ctx):
                return False
    return True


_ARN = re.compile(r"^arn:([^:]*):([^:]*):([^:]*):([^:]*):(.*)$")


def _arn_account(arn: str) -> str | None:
    m = _ARN.match(arn or "")
    return m.group(4) if m else None


def principal_match(spec: Any, principal: str) -> int:
    """0: no match; 1: through "*" or the account; 2: this very principal."""
    if spec == "*":
        return 1
    if not isinstance(spec, dict):
        return 0
    account = _arn_account(principal)
    role_arn = None
    m = re.match(r"^arn:([^:]*):sts::(\d+):assumed-role/([^/]+)/", principal)
    if m:
        role_arn = (m.group(1), m.group(2), m.group(3))
    best = 0
    for value in _as_list(spec.get("AWS")):
        value = str(value)
        if value == "*":
            best = max(best, 1)
        elif value == principal:
            return 2
        elif value.isdigit() and value == account:
            best = max(best, 1)
        elif value.endswith(":root") and _arn_account(value) == account:
            best = max(best, 1)
        elif role_arn is not None:
            vm = re.match(r"^arn:([^:]*):iam::(\d+):role/(?:.*/)?([^/]+)$", value)
            if vm and (vm.group(1), vm.group(2), vm.group(3)) == role_arn:
                return 2
    return best


def evaluate_statement(
    st: dict[str, Any],
    action: str,
    resource: str,
    principal: str | None,
    ctx: dict[str, Any] | None,
) -> tuple[PermissionResult, int]:
    if "NotAction" in st:
        concerned = not any(_glob(str(p), action, True) for p in _as_list(st["NotAction"]))
    else:
        concerned = any(_glob(str(p), action, True) for p in _as_list(st.get("Action")))
    if not concerned:
        return PermissionResult.NEUTRAL, 0
    level = 0
    if principal is not None:
        if "Principal" in st:
            level = principal_match(st["Principal"], principal)
            if level == 0:
                return PermissionResult.NEUTRAL, 0
        elif "NotPrincipal" in st:
            if principal_match(st["NotPrincipal"], principal):
                return PermissionResult.NEUTRAL, 0
    if "Resource" in st:
        if not any(_glob(str(p), resource) for p in _as_list(st["Resource"])):
            return PermissionResult.NEUTRAL, 0
    elif "NotResource" in st:
        if any(_glob(str(p), resource) for p in _as_list(st["NotResource"])):
            return PermissionResult.NEUTRAL, 0
    if not conditions_hold(st.get("Condition"), ctx or {}):
        return PermissionResult.NEUTRAL, 0
    if st.get("Effect") == "Allow":
        return PermissionResult.PERMITTED, level
    return PermissionResult.DENIED, level


def _statement_is_action_permitted(
    self: IAMPolicyStatement,
    action: str,
    resource: str = "*",
    principal: str | None = None,
    incoming_condition_values: dict[str, Any] | None = None,
) -> PermissionResult:
    return evaluate_statement(self._statement, action, resource, principal, incoming_condition_values)[0]


def evaluate_trust(
    document: str, action: str, role_arn: str, principal: str | None, ctx: dict[str, Any]
) -> tuple[PermissionResult, bool]:
    """A role's trust policy: (result, whether it names this principal itself)."""
    statements = _as_list(json.loads(document).get("Statement"))
    result, direct = PermissionResult.NEUTRAL, False
    for st in statements:
        outcome, level = evaluate_statement(st, action, role_arn, principal, ctx)
        if outcome == PermissionResult.DENIED:
            return PermissionResult.DENIED, False
        if outcome == PermissionResult.PERMITTED:
            result = PermissionResult.PERMITTED
            direct = direct or level == 2
    return result, direct


def find_role(role_arn: str, partition: str) -> Any:
    account = _arn_account(role_arn or "")
    if not account:
        return None
    try:
        return iam_backends[account][partition].get_role_by_arn(role_arn)
    except Exception:
        return None


def _check_action_permitted(self: IAMRequestBase, resource: str) -> None:
    action = self._action
    if action.lower() in ("sts:getcalleridentity", "sts:getsessiontoken"):
        return  # AWS: no permission is needed for these
    partition = get_partition(self._region)
    key = self._access_key
    caller = identify(key._access_key_id, self.account_id, partition)
    ctx = request_context(caller, action, flat_params(self._data), self._region)

    def deny() -> None:
        if isinstance(self, S3IAMRequest):
            self._raise_access_denied()
        on = f" on resource: {resource}" if resource and resource != "*" else ""
        raise access_denied(f"User: {key.arn} is not authorized to perform: {action}{on}")

    permitted = False
    for policy in key.collect_policies():
        outcome = IAMPolicy(policy).is_action_permitted(action, resource, None, ctx)
        if outcome == PermissionResult.DENIED:
            deny()
        if outcome == PermissionResult.PERMITTED:
            permitted = True

    if action.lower() == "sts:assumerole":
        role = find_role(resource, partition)
        if role is None:
            deny()
        trust, direct = evaluate_trust(role.assume_role_policy_document, action, resource, key.arn, ctx)
        if trust != PermissionResult.PERMITTED:
            deny()
        # Same account: a trust policy that names the caller itself is
        # enough; one that trusts the account needs an identity policy too.
        if not (permitted or (direct and role.account_id == caller.account_id)):
            deny()
        return
    if not permitted:
        deny()


# --------------------------------------------------------------------------
# Access keys: GetSessionToken credentials, expiry, inactive keys


class ExpiredToken(AwsError):
    def __init__(self) -> None:
        super().__init__(400, "ExpiredToken", "The security token included in the request is expired")


class SessionUserAccessKey(IAMUserAccessKey):
    """GetSessionToken credentials, authorized as the user they belong to."""

    # No super().__init__(): that looks the key up among the users' own keys.
    def __init__(self, sess: SessionCreds, headers: Any):
        self.account_id = sess.account_id
        self.partition = sess.partition
        self._owner_user_name = sess.user_name
        self._access_key_id = sess.access_key_id
        self._secret_access_key = sess.secret_access_key
        self._session_token = sess.session_token
        if headers.get("X-Amz-Security-Token") != sess.session_token:
            raise CreateAccessKeyFailure(reason="InvalidToken")

    def create_credentials(self) -> Any:
        from botocore.credentials import Credentials

        return Credentials(self._access_key_id, self._secret_access_key, self._session_token)


_original_create_access_key = access_control.create_access_key


def _create_access_key(account_id: str, partition: str, access_key_id: str, headers: Any) -> Any:
    sess = SESSIONS.get(access_key_id)
    if sess is not None:
        if sess.expiration <= utcnow():
            raise ExpiredToken()
        return SessionUserAccessKey(sess, headers)
    role = sts_backends[account_id][partition].get_assumed_role_from_access_key(access_key_id)
    if role is not None and role.expiration <= utcnow():
        raise ExpiredToken()
    key = _original_create_access_key(account_id, partition, access_key_id, headers)
    if isinstance(key, IAMUserAccessKey):  # a long-term key: refuse it when inactive
        stored = iam_backends[account_id][partition].access_keys.get(access_key_id)
        if stored is not None and stored.status != "Active":
            raise CreateAccessKeyFailure(reason="InvalidId")
    return key


def _get_user_from_access_key_id(self: IAMBackend, access_key_id: str) -> Any:
    sess = SESSIONS.get(access_key_id)
    if sess is not None and sess.account_id == self.account_id:
        return self.users.get(sess.user_name)
    return _original_get_user_from_access_key_id(self, access_key_id)


_original_get_caller_identity = STSBackend.get_caller_identity


def _get_caller_identity(self: STSBackend, access_key_id: str, region: str) -> tuple[str, str, str]:
    sess = SESSIONS.get(access_key_id)
    if sess is not None:
        user = iam_backends[sess.account_id][sess.partition].users.get(sess.user_name)
        if user is not None:
            return user.id, user.arn, user.account_id
    return _original_get_caller_identity(self, access_key_id, region)


# --------------------------------------------------------------------------
# MFA devices

_original_enable_mfa_device = IAMBackend.enable_mfa_device


def _enable_mfa_device(
    self: IAMBackend,
    user_name: str,
    serial_number: str,
    authentication_code_1: str,
    authentication_code_2: str,
) -> None:
    device = self.virtual_mfa_devices.get(serial_number)
    if device is not None and not MFA.verify_pair(
        serial_number, device.base32_string_seed, str(authentication_code_1), str(authentication_code_2)
    ):
        raise AwsError(403, "InvalidAuthenticationCode", "Authentication code for device is not valid.", IAM_NS)
    _original_enable_mfa_device(self, user_name, serial_number, authentication_code_1, authentication_code_2)


def check_mfa(serial: str | None, code: str | None, partition: str, caller: Caller) -> float:
    """Verifies SerialNumber+TokenCode; returns the time of authentication."""
    if not serial or not code:
        raise access_denied(MFA_INCOMPLETE)
    if not re.fullmatch(r"[\w+=/:,.@-]{9,256}", serial):
        raise validation_error(
            f"1 validation error detected: Value '{serial}' at 'serialNumber' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [\\w+=/:,.@-]*"
        )
    if not re.fullmatch(r"\d{6}", code):
        raise validation_error(
            "1 validation error detected: Value at 'tokenCode' failed to satisfy constraint: "
            "Member must have length 6 and satisfy regular expression pattern: [\\d]*"
        )
    account = _arn_account(serial)
    device = None
    if account:
        device = iam_backends[account][partition].virtual_mfa_devices.get(serial)
    if device is None or device.user is None:
        log(f"MFA {serial}: no such virtual device, or it is not enabled for a user")
        raise access_denied(MFA_UNKNOWN)
    if caller.user is not None and (
        device.user.name != caller.user.name or device.user.account_id != caller.user.account_id
    ):
        log(f"MFA {serial}: belongs to {device.user.arn}, not to the caller {caller.user.arn}")
        raise access_denied(MFA_UNKNOWN)
    if not MFA.verify(serial, device.base32_string_seed, code):
        raise access_denied(MFA_INVALID)
    return time.time()


# --------------------------------------------------------------------------
# STS actions

STS_ACTIONS = [
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "DecodeAuthorizationMessage",
    "GetAccessKeyInfo",
    "GetCallerIdentity",
    "GetFederationToken",
    "GetSessionToken",
]


class Counts:
    def __init__(self, initial: list[str] = STS_ACTIONS) -> None:
        self._lock = threading.Lock()
        self._initial = initial
        self._counts: dict[str, int] = {}
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._counts = {action: 0 for action in self._initial}

    def add(self, action: str) -> None:
        with self._lock:
            self._counts[action] = self._counts.get(action, 0) + 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


COUNTS = Counts()
IAM_COUNTS = Counts(initial=[])


class Faults:
    """Test-controlled misbehaviour of IAM actions (POST /avault/faults)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, dict[str, Any]] = {}

    def set(self, spec: dict[str, Any]) -> None:
        with self._lock:
            if not spec:
                self._faults.clear()
                return
            action = spec.get("action")
            if not isinstance(action, str) or spec.get("mode") not in ("stall", "fail"):
                raise ValueError('want {} or {"action": NAME, "mode": "stall"|"fail", ...}')
            self._faults[action] = dict(spec)

    def apply(self, action: str) -> None:
        with self._lock:
            fault = self._faults.get(action)
            if fault is None:
                return
            if fault["mode"] == "fail" and "times" in fault:
                fault["times"] = int(fault["times"]) - 1
                if fault["times"] <= 0:
                    del self._faults[action]
        if fault["mode"] == "stall":
            log(f"fault: stalling {action} for {fault.get('seconds', 30)} s")
            time.sleep(float(fault.get("seconds", 30)))
            return
        status = int(fault.get("status", 403))
        code = str(fault.get("code", "AccessDenied"))
        log(f"fault: failing {action} with {status} {code}")
        raise AwsError(status, code, f"avault test fault: {action} fails", IAM_NS)


FAULTS = Faults()

_original_sts_call_action = TokenResponse.call_action
_original_iam_call_action = IamResponse.call_action
_original_authenticate = ActionAuthenticatorMixin._authenticate_and_authorize_normal_action


def _fix_error_body(result: Any, namespace: str) -> Any:
    status, headers, body = result
    if isinstance(status, int) and status >= 400:
        body = aws_error_shape(body, namespace)
    return status, headers, body


def _sts_call_action(self: TokenResponse) -> Any:
    COUNTS.add(self._get_action() or "?")
    return _fix_error_body(_original_sts_call_action(self), STS_NS)


def _iam_call_action(self: IamResponse) -> Any:
    action = self._get_action() or "?"
    IAM_COUNTS.add(action)
    FAULTS.apply(action)
    return _fix_error_body(_original_iam_call_action(self), IAM_NS)


def _sts_authenticate(self: TokenResponse, resource: str = "*") -> None:
    # Remember whether moto enforced IAM auth for this request.
    self._avault_enforced = (
        ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT
    )
    _original_authenticate(self, resource)


LIFETIME: dict[str, int | None] = {"seconds": None}


def lifetime_override(expiration: datetime.datetime) -> datetime.datetime:
    """The expiry of credentials issued now, under /avault/lifetime."""
    seconds = LIFETIME["seconds"]
    if seconds is None:
        return expiration
    return (utcnow() + datetime.timedelta(seconds=seconds)).replace(microsecond=0)


def _caller_of(resp: TokenResponse) -> Caller:
    return identify(resp.get_access_key(), resp.current_account, resp.partition)


def _get_session_token(self: TokenResponse) -> ActionResult:
    caller = _caller_of(self)
    if caller.kind in ("session", "role"):
        raise access_denied("Cannot call GetSessionToken with session credentials")
    duration = self._get_int_param("DurationSeconds", 43200)
    if duration < 900:
        raise validation_error(
            f"1 validation error detected: Value '{duration}' at 'durationSeconds' failed to "
            "satisfy constraint: Member must have value greater than or equal to 900"
        )
    if duration > 129600:
        raise validation_error(
            f"1 validation error detected: Value '{duration}' at 'durationSeconds' failed to "
            "satisfy constraint: Member must have value less than or equal to 129600"
        )
    serial = self._get_param("SerialNumber")
    code = self._get_param("TokenCode")
    mfa_time = None
    if serial or code:
        mfa_time = check_mfa(serial, code, self.partition, caller)
    token = Token(duration=duration)
    # AWS answers whole seconds (2024-01-01T00:00:00Z); moto would add microseconds.
    token.expiration = lifetime_override(token.expiration.replace(microsecond=0))
    account = caller.account_id
    key = iam_backends[account][self.partition].create_temp_access_key()
    session_token = random_session_token()
    if caller.kind == "user":
        SESSIONS[key.access_key_id] = SessionCreds(
            access_key_id=key.access_key_id,
            secret_access_key=key.secret_access_key,
            session_token=session_token,
            account_id=account,
            partition=self.partition,
            user_name=caller.user.name,
            issued=utcnow(),
            expiration=token.expiration,
            mfa_time=mfa_time,
        )
    else:
        log("GetSessionToken from an unknown access key: the credentials act as nobody")
    return ActionResult(
        {
            "Credentials": {
                "AccessKeyId": key.access_key_id,
                "SecretAccessKey": key.secret_access_key,
                "SessionToken": session_token,
                "Expiration": token.expiration,
            }
        }
    )


_original_assume_role = TokenResponse.assume_role


def _assume_role(self: TokenResponse) -> ActionResult:
    caller = _caller_of(self)
    role_arn = self._get_param("RoleArn")
    duration = self._get_int_param("DurationSeconds", 3600)
    if duration < 900 or duration > 43200:
        bound = "greater than or equal to 900" if duration < 900 else "less than or equal to 43200"
        raise validation_error(
            f"1 validation error detected: Value '{duration}' at 'durationSeconds' failed to "
            f"satisfy constraint: Member must have value {bound}"
        )
    role = find_role(role_arn, self.partition)
    if role is not None and duration > int(role.max_session_duration or 3600):
        raise validation_error("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    if caller.kind == "role" and duration > 3600:
        raise validation_error(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
        )
    if role is not None and not getattr(self, "_avault_enforced", False):
        # moto skips the trust policy while auth is not enforced; its
        # conditions (ExternalId, MFA) still apply.
        params = flat_params(self.querystring)
        ctx = request_context(caller, "sts:AssumeRole", params, self.region)
        trust, _ = evaluate_trust(role.assume_role_policy_document, "sts:AssumeRole", role_arn, caller.arn, ctx)
        if trust != PermissionResult.PERMITTED:
            who = caller.arn or "anonymous"
            raise access_denied(f"User: {who} is not authorized to perform: sts:AssumeRole on resource: {role_arn}")
    serial = self._get_param("SerialNumber")
    code = self._get_param("TokenCode")
    mfa_time = caller.mfa_time
    if serial or code:
        mfa_time = check_mfa(serial, code, self.partition, caller)
    result = _original_assume_role(self)
    creds = result.result["Credentials"]  # type: ignore[index]
    creds.expiration = lifetime_override(creds.expiration.replace(microsecond=0))
    ROLE_ISSUED[creds.access_key_id] = utcnow()
    if mfa_time:
        ROLE_MFA[creds.access_key_id] = mfa_time
    return result


_original_get_federation_token = TokenResponse.get_federation_token
# What each GetFederationToken was asked for and handed out (no secrets),
# for `GET /avault/federation-tokens`.
FEDERATION_ISSUED: list[dict[str, Any]] = []


def _get_federation_token(self: TokenResponse) -> ActionResult:
    caller = _caller_of(self)
    if caller.kind in ("session", "role"):
        raise access_denied("Cannot call GetFederationToken with session credentials")
    result = _original_get_federation_token(self)
    # Stock moto hands out one fixed key; make each call's credentials unique.
    key = iam_backends[caller.account_id][self.partition].create_temp_access_key()
    creds = result.result["Credentials"]  # type: ignore[index]
    creds["AccessKeyId"] = key.access_key_id
    creds["SecretAccessKey"] = key.secret_access_key
    creds["SessionToken"] = random_session_token()
    creds["Expiration"] = creds["Expiration"].replace(microsecond=0)
    FEDERATION_ISSUED.append(
        {
            "AccessKeyId": key.access_key_id,
            "Caller": caller.arn,
            "Name": self._get_param("Name"),
            "Policy": self._get_param("Policy"),
            "DurationSeconds": self._get_int_param("DurationSeconds", 43200),
            "Expiration": creds["Expiration"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )
    return result


def install() -> None:
    access_control.create_access_key = _create_access_key
    IAMRequestBase.check_action_permitted = _check_action_permitted
    IAMPolicyStatement.is_action_permitted = _statement_is_action_permitted
    IAMBackend.get_user_from_access_key_id = _get_user_from_access_key_id
    IAMBackend.enable_mfa_device = _enable_mfa_device
    STSBackend.get_caller_identity = _get_caller_identity
    TokenResponse.call_action = _sts_call_action
    TokenResponse._authenticate_and_authorize_normal_action = _sts_authenticate
    TokenResponse.get_session_token = _get_session_token
    TokenResponse.assume_role = _assume_role
    TokenResponse.get_federation_token = _get_federation_token
    IamResponse.call_action = _iam_call_action


# --------------------------------------------------------------------------
# SSO (IAM Identity Center): OIDC device flow and portal, which moto lacks

SSO_PATHS = ("/client/register", "/device_authorization", "/token", "/federation/credentials")
SSO_COUNTS = Counts(
    initial=[
        "RegisterClient",
        "StartDeviceAuthorization",
        "CreateToken",
        "CreateToken:device_code",
        "CreateToken:refresh_token",
        "GetRoleCredentials",
    ]
)
SSO_TOKEN_SECONDS = 8 * 3600
SSO_DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
# The scope AWS issues refresh tokens for.
SSO_REFRESH_SCOPE = "sso:account:access"
SSO_DEVICE_SECONDS = 600


class SsoFake:
    """The state of the fake: clients, device authorizations, tokens."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clients: dict[str, str] = {}  # clientId -> clientSecret
        # deviceCode -> {"clientId", "userCode", "state", "expires", "startUrl"}
        self.devices: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, float] = {}  # accessToken -> expiry (unix time)
        self.scopes: dict[str, list[str]] = {}  # clientId -> registered scopes
        self.refresh_tokens: dict[str, str] = {}  # refreshToken -> clientId
        # Access token lifetime (POST /avault/sso/token-lifetime); None: 8 h.
        self.token_seconds: int | None = None

    def register(self, body: dict[str, Any]) -> tuple[str, Any]:
        SSO_COUNTS.add("RegisterClient")
        if body.get("clientType") != "public" or not body.get("clientName"):
            return "400 Bad Request", {"error": "invalid_request"}
        client_id = "avault-client-" + uuid.uuid4().hex
        secret = "sso-client-secret-" + uuid.uuid4().hex
        now = int(time.time())
        scopes = body.get("scopes") or []
        with self.lock:
            self.clients[client_id] = secret
            self.scopes[client_id] = [s for s in scopes if isinstance(s, str)]
        return "200 OK", {
            "clientId": client_id,
            "clientSecret": secret,
            "clientIdIssuedAt": now,
            "clientSecretExpiresAt": now + 90 * 86400,
        }

    def _client_ok(self, body: dict[str, Any]) -> bool:
        with self.lock:
            return self.clients.get(body.get("clientId", "")) == body.get("clientSecret")

    def device_authorization(self, body: dict[str, Any], host: str) -> tuple[str, Any]:
        SSO_COUNTS.add("StartDeviceAuthorization")
        if not self._client_ok(body):
            return "400 Bad Request", {"error": "invalid_client"}
        if not body.get("startUrl"):
            return "400 Bad Request", {"error": "invalid_request"}
        device_code = "sso-device-" + uuid.uuid4().hex
        letters = uuid.uuid4().hex.upper()
        user_code = f"{letters[:4]}-{letters[4:8]}"
        with self.lock:
            self.devices[device_code] = {
                "clientId": body["clientId"],
                "userCode": user_code,
                "state": "pending",
                "expires": time.time() + SSO_DEVICE_SECONDS,
                "startUrl": body["startUrl"],
            }
        verify = f"http://{host}/avault/sso/verify"
        return "200 OK", {
            "deviceCode": device_code,
            "userCode": user_code,
            "verificationUri": verify,
            "verificationUriComplete": f"{verify}?user_code={user_code}",
            "expiresIn": SSO_DEVICE_SECONDS,
            "interval": 1,
        }

    def _issue(self, client_id: str) -> dict[str, Any]:
        """A new access token (and a refresh token when the client's scopes
        allow one, as AWS); the caller holds the lock."""
        seconds = SSO_TOKEN_SECONDS if self.token_seconds is None else self.token_seconds
        access_token = "sso-access-token-" + uuid.uuid4().hex
        self.tokens[access_token] = time.time() + seconds
        answer: dict[str, Any] = {"accessToken": access_token, "expiresIn": seconds, "tokenType": "Bearer"}
        if SSO_REFRESH_SCOPE in self.scopes.get(client_id, []):
            refresh_token = "sso-refresh-token-" + uuid.uuid4().hex
            self.refresh_tokens[refresh_token] = client_id
            answer["refreshToken"] = refresh_token
        return answer

    def token(self, body: dict[str, Any]) -> tuple[str, Any]:
        SSO_COUNTS.add("CreateToken")
        grant = body.get("grantType")
        if grant in (SSO_DEVICE_GRANT, "refresh_token"):
            SSO_COUNTS.add("CreateToken:" + ("device_code" if grant == SSO_DEVICE_GRANT else grant))
        if not self._client_ok(body):
            return "400 Bad Request", {"error": "invalid_client"}
        if grant == "refresh_token":
            with self.lock:
                refresh_token = body.get("refreshToken", "")
                if self.refresh_tokens.get(refresh_token) != body["clientId"]:
                    return "400 Bad Request", {"error": "invalid_grant"}
                # Rotated: the one used is spent.
                del self.refresh_tokens[refresh_token]
                return "200 OK", self._issue(body["clientId"])
        if grant != SSO_DEVICE_GRANT:
            return "400 Bad Request", {"error": "unsupported_grant_type"}
        with self.lock:
            device = self.devices.get(body.get("deviceCode", ""))
            if device is None or device["clientId"] != body["clientId"]:
                return "400 Bad Request", {"error": "invalid_grant"}
            if device["state"] == "pending" and time.time() > device["expires"]:
                device["state"] = "expired"
            state = device["state"]
            if state == "pending":
                return "400 Bad Request", {"error": "authorization_pending"}
            if state == "denied":
                return "400 Bad Request", {"error": "access_denied"}
            if state in ("expired", "used"):
                return "400 Bad Request", {"error": "expired_token"}
            device["state"] = "used"
            return "200 OK", self._issue(body["clientId"])

    def role_credentials(self, environ: dict[str, Any]) -> tuple[str, Any]:
        SSO_COUNTS.add("GetRoleCredentials")
        token = environ.get(SSO_TOKEN_ENVIRON, "")
        with self.lock:
            expiry = self.tokens.get(token)
        if expiry is None or time.time() > expiry:
            return "401 Unauthorized", {"message": "Session token not found or invalid"}
        from urllib.parse import parse_qs

        query = parse_qs(environ.get("QUERY_STRING", ""))
        account = (query.get("account_id") or [""])[0]
        role_name = (query.get("role_name") or [""])[0]
        if not account or not role_name:
            return "400 Bad Request", {"message": "account_id and role_name are required"}
        role_arn = f"arn:aws:iam::{account}:role/{role_name}"
        if find_role(role_arn, "aws") is None:
            return "403 Forbidden", {"message": "No access"}
        role = sts_backends[account]["aws"].assume_role(
            region_name="us-east-1",
            role_session_name="avault-sso-user",
            role_arn=role_arn,
            policy="",
            duration=3600,
            external_id="",
        )
        ROLE_ISSUED[role.access_key_id] = utcnow()
        expiration = role.expiration.replace(tzinfo=datetime.timezone.utc)
        return "200 OK", {
            "roleCredentials": {
                "accessKeyId": role.access_key_id,
                "secretAccessKey": role.secret_access_key,
                "sessionToken": role.session_token,
                "expiration": int(expiration.timestamp()) * 1000,
            }
        }

    def approve(self, body: dict[str, Any]) -> tuple[str, Any]:
        state = "expired" if body.get("expire") else "denied" if body.get("deny") else "approved"
        code = body.get("userCode")
        changed = []
        with self.lock:
            for device in self.devices.values():
                if device["state"] == "pending" and (code is None or device["userCode"] == code):
                    device["state"] = state
                    changed.append(device["userCode"])
        if code is not None and not changed:
            return "404 Not Found", {"error": f"no pending user code {code}"}
        return "200 OK", {"changed": changed, "state": state}

    def pending(self) -> list[str]:
        with self.lock:
            return [d["userCode"] for d in self.devices.values() if d["state"] == "pending"]

    def revoke(self, body: dict[str, Any]) -> tuple[str, Any]:
        only = body.get("only")
        if only not in (None, "access", "refresh"):
            return "400 Bad Request", {"error": f"only: access or refresh, not {only!r}"}
        with self.lock:
            n = 0
            if only in (None, "access"):
                n += len(self.tokens)
                self.tokens.clear()
            if only in (None, "refresh"):
                n += len(self.refresh_tokens)
                self.refresh_tokens.clear()
        return "200 OK", {"revoked": n}

    def set_token_lifetime(self, body: dict[str, Any]) -> tuple[str, Any]:
        seconds = body.get("seconds")
        with self.lock:
            self.token_seconds = None if seconds is None else int(seconds)
        return "200 OK", {"seconds": self.token_seconds}


SSO = SsoFake()
SSO_TOKEN_ENVIRON = "avault.sso_bearer_token"


class RequestHandler(MotoRequestHandler):
    """Keeps the portal's `x-amz-sso_bearer_token` header, which werkzeug
    drops (its name has an underscore), under its own environ key."""

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        token = self.headers.get("x-amz-sso_bearer_token")
        if token is not None:
            environ[SSO_TOKEN_ENVIRON] = token
        return environ


def read_json(environ: dict[str, Any]) -> dict[str, Any]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


# --------------------------------------------------------------------------
# Server


class AvaultEndpoints:
    """/avault/* in front of moto's own application."""

    def __init__(self, app: Any):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api/reset-auth"):
            # moto reads the raw body; a form content type (curl -d 0,
            # urllib) makes the body vanish into request.form and the
            # request fail with 500. The body is a bare number either way.
            environ["CONTENT_TYPE"] = "text/plain"
        method = environ.get("REQUEST_METHOD", "GET")
        if path in SSO_PATHS:
            return self.sso(environ, start_response, path, method)
        if not path.startswith("/avault/"):
            return self.app(environ, start_response)
        if path == "/avault/counts" and method == "GET":
            status, body = "200 OK", COUNTS.snapshot()
        elif path == "/avault/federation-tokens" and method == "GET":
            status, body = "200 OK", list(FEDERATION_ISSUED)
        elif path == "/avault/counts/reset" and method == "POST":
            COUNTS.reset()
            IAM_COUNTS.reset()
            SSO_COUNTS.reset()
            status, body = "200 OK", {"status": "ok"}
        elif path == "/avault/lifetime" and method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            asked = json.loads(environ["wsgi.input"].read(length) or b"{}").get("seconds")
            LIFETIME["seconds"] = None if asked is None else int(asked)
            status, body = "200 OK", {"seconds": LIFETIME["seconds"]}
        elif path == "/avault/iam-counts" and method == "GET":
            status, body = "200 OK", IAM_COUNTS.snapshot()
        elif path == "/avault/faults" and method == "POST":
            status, body = self.set_faults(environ)
        elif path == "/avault/sso/approve" and method == "POST":
            status, body = SSO.approve(read_json(environ))
        elif path == "/avault/sso/pending" and method == "GET":
            status, body = "200 OK", SSO.pending()
        elif path == "/avault/sso/revoke" and method == "POST":
            status, body = SSO.revoke(read_json(environ))
        elif path == "/avault/sso/token-lifetime" and method == "POST":
            status, body = SSO.set_token_lifetime(read_json(environ))
        elif path == "/avault/sso/counts" and method == "GET":
            status, body = "200 OK", SSO_COUNTS.snapshot()
        else:
            status, body = "404 Not Found", {"error": f"no {method} {path}"}
        data = json.dumps(body, sort_keys=True).encode()
        start_response(
            status,
            [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
        )
        return [data]


    @staticmethod
    def sso(environ: dict[str, Any], start_response: Any, path: str, method: str) -> Any:
        if path == "/federation/credentials" and method == "GET":
            status, body = SSO.role_credentials(environ)
        elif method != "POST":
            status, body = "405 Method Not Allowed", {"error": f"no {method} {path}"}
        elif path == "/client/register":
            status, body = SSO.register(read_json(environ))
        elif path == "/device_authorization":
            status, body = SSO.device_authorization(read_json(environ), environ.get("HTTP_HOST", "127.0.0.1"))
        else:
            status, body = SSO.token(read_json(environ))
        data = json.dumps(body).encode()
        start_response(
            status,
            [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
        )
        return [data]

    @staticmethod
    def set_faults(environ: dict[str, Any]) -> tuple[str, Any]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length) if length else b""
            FAULTS.set(json.loads(raw or b"{}"))
        except (ValueError, TypeError) as e:
            return "400 Bad Request", {"error": str(e)}
        return "200 OK", {"status": "ok"}


def create_admin() -> tuple[str, str]:
    iam = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    iam.create_user(region_name="us-east-1", user_name=ADMIN_USER)
    iam.put_user_policy(
        ADMIN_USER,
        "everything",
        json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
    )
    key = iam.create_access_key(ADMIN_USER)
    return key.access_key_id, key.secret_access_key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", type=int, help="port on 127.0.0.1; 0 picks a free one")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    args = parser.parse_args()

    from werkzeug.serving import make_server

    install()
    admin_id, admin_secret = create_admin()
    app = AvaultEndpoints(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=RequestHandler)

    if args.exit_on_stdin_eof:

        def watch() -> None:
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            finally:
                os._exit(0)

        threading.Thread(target=watch, daemon=True).start()

    print(f"ADMIN_ACCESS_KEY_ID={admin_id}", flush=True)
    print(f"ADMIN_SECRET_ACCESS_KEY={admin_secret}", flush=True)
    print(f"PORT={server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
