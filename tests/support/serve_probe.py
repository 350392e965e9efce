#!/usr/bin/env python3
"""The command that `avault exec --ecs-server/--ec2-server` runs in tests/serve.rs.

    serve_probe.py ecs ROLE_ARN      the ECS endpoint: token checks, Host
                                     check, /role-arn/, boto3 through it
    serve_probe.py burst N MARGIN    one request, then N concurrent requests
                                     once the credentials are MARGIN seconds
                                     from expiry
    serve_probe.py ec2               the metadata endpoints: IMDSv1, IMDSv2,
                                     Host check, boto3 through them
    serve_probe.py env               the credential variables it was given

Prints one JSON object with what it saw; the test asserts on it.
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse
from typing import Any


def request(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    conn.putrequest(method, path, skip_host=True)
    sent = {"Host": parts.netloc}
    sent.update(headers or {})
    for name, value in sent.items():
        if value is not None:
            conn.putheader(name, value)
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read().decode()
    answer = (resp.status, body, {k.lower(): v for k, v in resp.getheaders()})
    conn.close()
    return answer


def caller_arn(**session_args: Any) -> str:
    import boto3

    session = boto3.session.Session(**session_args)
    return session.client("sts").get_caller_identity()["Arn"]


def ecs(role_arn: str) -> dict[str, Any]:
    url = os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
    token = os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    out: dict[str, Any] = {"url": url, "token_length": len(token)}
    out["keys_in_env"] = [k for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if k in os.environ]
    status, body, _ = request(url, headers={"Authorization": token})
    out["plain"] = [status, sorted(json.loads(body))]
    out["bearer"] = request(url, headers={"Authorization": "Bearer " + token})[0]
    out["none"] = request(url)[:2]
    out["wrong"] = request(url, headers={"Authorization": token[:-1] + ("A" if token[-1] != "A" else "B")})[:2]
    out["foreign_host"] = request(url, headers={"Authorization": token, "Host": "evil.example:80"})[0]
    out["get_credentials_path"] = request(url + "get-credentials", headers={"Authorization": token})[0]
    status, body, _ = request(url + "role-arn/" + role_arn, headers={"Authorization": token})
    out["role_status"] = status
    if status == 200:
        c = json.loads(body)
        out["role_arn_caller"] = caller_arn(
            aws_access_key_id=c["AccessKeyId"],
            aws_secret_access_key=c["SecretAccessKey"],
            aws_session_token=c["Token"],
        )
    out["bad_role"] = request(url + "role-arn/not-an-arn", headers={"Authorization": token})[0]
    out["boto3_caller"] = caller_arn()
    return out


def burst(n: int, margin: int) -> dict[str, Any]:
    url = os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
    auth = {"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]}
    status, body, _ = request(url, headers=auth)
    first = json.loads(body)
    expires = datetime.datetime.fromisoformat(first["Expiration"].replace("Z", "+00:00"))
    wait = (expires - datetime.datetime.now(datetime.timezone.utc)).total_seconds() - margin + 1
    time.sleep(max(wait, 0))
    ids: list[str] = []
    errors: list[str] = []
    start = threading.Barrier(n)
    lock = threading.Lock()

    def one() -> None:
        try:
            start.wait()
            status, body, _ = request(url, headers=auth)
            with lock:
                if status == 200:
                    ids.append(json.loads(body)["AccessKeyId"])
                else:
                    errors.append(f"{status} {body}")
        except Exception as e:  # noqa: BLE001 - reported to the test
            with lock:
                errors.append(repr(e))

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"first": first["AccessKeyId"], "ids": sorted(set(ids)), "answers": len(ids), "errors": errors[:5]}


def ec2() -> dict[str, Any]:
    base = os.environ["AWS_EC2_METADATA_SERVICE_ENDPOINT"].rstrip("/")
    creds = base + "/latest/meta-data/iam/security-credentials/"
    out: dict[str, Any] = {"endpoint": base, "disabled": os.environ.get("AWS_EC2_METADATA_DISABLED")}
    out["v1_list"] = request(creds)[:2]
    out["foreign_host"] = request(creds, headers={"Host": "evil.example"})[0]
    out["identity"] = json.loads(request(base + "/latest/dynamic/instance-identity/document")[1])
    out["token_no_ttl"] = request(base + "/latest/api/token", method="PUT")[0]
    out["token_forwarded"] = request(
        base + "/latest/api/token",
        method="PUT",
        headers={"X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "10.0.0.1"},
    )[0]
    status, token, headers = request(
        base + "/latest/api/token", method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    )
    out["token"] = [status, len(token), headers.get("x-aws-ec2-metadata-token-ttl-seconds")]
    status, body, _ = request(creds + "local-credentials", headers={"X-aws-ec2-metadata-token": token})
    doc = json.loads(body)
    out["v2_creds"] = [status, doc.get("Code"), doc.get("Type"), sorted(doc)]
    out["v1_after_v2"] = request(creds)[0]
    out["wrong_token"] = request(creds, headers={"X-aws-ec2-metadata-token": "x" + token})[0]
    out["boto3_caller"] = caller_arn()
    return out


def env() -> dict[str, Any]:
    names = [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        "AWS_EC2_METADATA_DISABLED",
        "AWS_VAULT",
        "AVAULT_IDENTITY",
    ]
    return {n: os.environ.get(n) is not None for n in names}


def main() -> None:
    mode = sys.argv[1]
    if mode == "ecs":
        result = ecs(sys.argv[2])
    elif mode == "burst":
        result = burst(int(sys.argv[2]), int(sys.argv[3]))
    elif mode == "ec2":
        result = ec2()
    elif mode == "env":
        result = env()
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
