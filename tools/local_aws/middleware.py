"""WSGI middleware around moto's app: call counting, throttling faults and latency.

Tests and benchmarks read the counts over HTTP on a private path that no AWS
SDK ever calls:

- ``GET  /_local_aws/calls``       -> ``{"calls": {"ec2:DescribeImages": 3, ...},
                                         "throttled": {"ec2:ModifyImageAttribute": 1}}``
- ``POST /_local_aws/calls/reset`` -> clears both counters, answers ``{"reset": true}``
"""

from __future__ import annotations

import io
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from typing import Callable
from urllib.parse import parse_qs

CONTROL_PREFIX = "/_local_aws/"
# Only these services get throttling faults, with the code each one uses in AWS.
THROTTLED_SERVICES = {"ec2", "sts"}

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass
class FaultPlan:
    """How often to answer with a throttling error, and how long to wait before answering."""

    rate: float = 0.0
    seed: int | None = None
    latency_ms: int = 0


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back, so that moto can read it again."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def identify_call(environ: dict[str, Any], body: bytes) -> tuple[str, str]:
    """The (service, operation) of an AWS request, from its signature and body."""
    service = "unknown"
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    # SigV4: "AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, ..."
    if "Credential=" in authorization:
        scope = authorization.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        if len(scope) >= 4:
            service = scope[3]

    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        # JSON protocols (KMS, ...): "TrentService.DescribeKey".
        return service, target.rsplit(".", 1)[-1]
    form = parse_qs(body.decode("utf-8", "replace")) if body else {}
    query = parse_qs(environ.get("QUERY_STRING", ""))
    action = (form.get("Action") or query.get("Action") or ["unknown"])[0]
    return service, action


def throttling_response(service: str) -> tuple[str, bytes]:
    """The status line and XML body AWS sends when it throttles this service."""
    request_id = str(uuid.uuid4())
    if service == "sts":
        body = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            "<Error><Type>Sender</Type><Code>Throttling</Code>"
            "<Message>Rate exceeded</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return "400 Bad Request", body.encode()
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        "<Response><Errors><Error><Code>RequestLimitExceeded</Code>"
        "<Message>Request limit exceeded.</Message></Error></Errors>"
        f"<RequestID>{request_id}</RequestID></Response>"
    )
    return "503 Service Unavailable", body.encode()


class LocalAwsMiddleware:
    """Counts calls, injects faults and latency, and serves the private control paths."""

    def __init__(self, app: WsgiApp, faults: FaultPlan | None = None) -> None:
        self.app = app
        self.faults = faults or FaultPlan()
        self._random = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX):
            return self._control(environ, start_response, path[len(CONTROL_PREFIX) :])

        service, operation = identify_call(environ, _read_body(environ))
        name = f"{service}:{operation}"
        with self._lock:
            self.calls[name] += 1
            # One shared generator under the lock: the same seed gives the same
            # sequence of faults for the same sequence of calls.
            throttle = service in THROTTLED_SERVICES and self._random.random() < self.faults.rate
            if throttle:
                self.throttled[name] += 1

        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        if throttle:
            status, body = throttling_response(service)
            start_response(
                status,
                [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return self.app(environ, start_response)

    def snapshot(self) -> dict[str, dict[str, int]]:
        """The counters as plain data, sorted by name."""
        with self._lock:
            return {
                "calls": dict(sorted(self.calls.items())),
                "throttled": dict(sorted(self.throttled.items())),
            }

    def reset(self) -> None:
        """Zero both counters."""
        with self._lock:
            self.calls.clear()
            self.throttled.clear()

    def _control(
        self, environ: dict[str, Any], start_response: StartResponse, route: str
    ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if route == "calls" and method == "GET":
            return _json(start_response, "200 OK", self.snapshot())
        if route == "calls/reset" and method == "POST":
            self.reset()
            return _json(start_response, "200 OK", {"reset": True})
        return _json(start_response, "404 Not Found", {"error": f"no {method} /_local_aws/{route}"})


def _json(start_response: StartResponse, status: str, payload: Any) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
