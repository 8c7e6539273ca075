"""WSGI middleware around moto's app: call counting, throttling faults and latency.

Tests and benchmarks read the counts over HTTP on a private path that no AWS
SDK ever calls:

- ``GET  /_local_aws/calls``       -> ``{"calls": {"ec2:DescribeImages": 3, ...},
                                         "throttled": {"ec2:ModifyImageAttribute": 1}}``
- ``POST /_local_aws/calls/reset`` -> clears every counter, answers ``{"reset": true}``
- ``GET  /_local_aws/calls/by-account`` -> the same calls split by the calling account
- ``GET  /_local_aws/calls/by-image``   -> EC2 calls per image ID named in the request
- ``GET  /_local_aws/assume-role``      -> every AssumeRole request: role, session name and
                                           a SHA-256 of its ExternalId, never the value
- ``POST /_local_aws/faults``           -> adds a rule that fails one operation, optionally
                                           only for some parameter values (see FaultRule)
- ``GET  /_local_aws/faults``, ``DELETE /_local_aws/faults`` -> lists or drops the rules
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from http import HTTPStatus
from typing import Any
from typing import Callable
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

CONTROL_PREFIX = "/_local_aws/"
# Only these services get throttling faults, with the code each one uses in AWS.
THROTTLED_SERVICES = {"ec2", "sts"}

# What a fault rule may do instead of letting moto answer.
ERROR_ACTION = "error"
DEREGISTER_ACTION = "deregister"
# Form fields that name images in EC2 requests (ModifyImageAttribute, CreateTags, ...).
IMAGE_FIELDS = ("ImageId", "ResourceId")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
# Maps an access key ID to the account it acts as; given by the server, which knows moto.
AccountResolver = Callable[[str], str]
# Deregisters an image, whoever owns it, in a region: the server's hook into moto.
Deregistrar = Callable[[str, str], None]


@dataclass
class FaultPlan:
    """How often to answer with a throttling error, and how long to wait before answering."""

    rate: float = 0.0
    seed: int | None = None
    latency_ms: int = 0


@dataclass
class FaultRule:
    """Fail one operation, for every request or only those whose parameters match.

    ``params`` maps a form field to a value; a request matches when the field, or one
    of its numbered members (``ResourceId.1``, ...), has that value. ``action`` is
    ``error`` (answer the AWS error ``code`` with ``status``) or ``deregister`` (make the
    image named by ``ImageId`` vanish, then let moto answer as AWS would, which forces
    the race of an image deregistered between a listing and a change). ``times`` bounds
    how many requests the rule hits; None is every one.
    """

    operation: str
    params: dict[str, str] = field(default_factory=dict)
    action: str = ERROR_ACTION
    code: str = "AccessDenied"
    message: str = "Injected by local-aws"
    status: int = 403
    times: int | None = None
    hits: int = 0

    @classmethod
    def from_json(cls, payload: Any) -> FaultRule:
        """A rule from a control request, or ValueError naming what is wrong."""
        if not isinstance(payload, dict):
            raise ValueError("a fault rule is a JSON object")
        unknown = set(payload) - {
            "operation",
            "params",
            "action",
            "code",
            "message",
            "status",
            "times",
        }
        if unknown:
            raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
        operation = payload.get("operation")
        if not isinstance(operation, str) or operation.count(":") != 1:
            raise ValueError("operation must be 'service:Operation', e.g. 'sts:AssumeRole'")
        params = payload.get("params", {})
        if not isinstance(params, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in params.items()
        ):
            raise ValueError("params must map field names to string values")
        rule = cls(operation=operation, params=params)
        rule.action = payload.get("action", ERROR_ACTION)
        if rule.action not in (ERROR_ACTION, DEREGISTER_ACTION):
            raise ValueError(f"action must be {ERROR_ACTION} or {DEREGISTER_ACTION}")
        if rule.action == DEREGISTER_ACTION and "ImageId" not in params:
            raise ValueError("the deregister action needs params.ImageId")
        rule.code = str(payload.get("code", rule.code))
        rule.message = str(payload.get("message", rule.message))
        rule.status = int(payload.get("status", rule.status))
        times = payload.get("times")
        if times is not None and (not isinstance(times, int) or times < 1):
            raise ValueError("times must be a positive integer or null")
        rule.times = times
        return rule

    def matches(self, name: str, form: dict[str, list[str]]) -> bool:
        """Whether this rule, not yet used up, applies to a request."""
        if name != self.operation or (self.times is not None and self.hits >= self.times):
            return False
        return all(value in _field_values(form, key) for key, value in self.params.items())


def _field_values(form: dict[str, list[str]], key: str) -> set[str]:
    """Values of a form field and of its numbered members (``Key.1``, ``Key.2``, ...)."""
    return {
        value
        for name, values in form.items()
        if name == key or (name.startswith(key + ".") and name[len(key) + 1 :].isdigit())
        for value in values
    }


def _no_account(access_key: str) -> str:
    return "unknown"


def _cannot_deregister(region: str, image_id: str) -> None:
    raise RuntimeError("this server has no deregister hook")


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back, so that moto can read it again."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def credential_scope(environ: dict[str, Any]) -> list[str]:
    """The SigV4 credential scope of a request: access key, date, region, service, ..."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    # SigV4: "AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, ..."
    if "Credential=" not in authorization:
        return []
    return authorization.split("Credential=", 1)[1].split(",", 1)[0].split("/")


def request_form(environ: dict[str, Any], body: bytes) -> dict[str, list[str]]:
    """The parameters of a query-protocol request, from its body and its query string."""
    form = parse_qs(body.decode("utf-8", "replace")) if body else {}
    for key, values in parse_qs(environ.get("QUERY_STRING", "")).items():
        form.setdefault(key, values)
    return form


def identify_call(environ: dict[str, Any], body: bytes) -> tuple[str, str]:
    """The (service, operation) of an AWS request, from its signature and body."""
    scope = credential_scope(environ)
    service = scope[3] if len(scope) >= 4 else "unknown"

    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        # JSON protocols (KMS, ...): "TrentService.DescribeKey".
        return service, target.rsplit(".", 1)[-1]
    form = parse_qs(body.decode("utf-8", "replace")) if body else {}
    query = parse_qs(environ.get("QUERY_STRING", ""))
    action = (form.get("Action") or query.get("Action") or ["unknown"])[0]
    return service, action


def error_body(service: str, code: str, message: str) -> bytes:
    """An AWS error in the XML shape of the service's query protocol."""
    request_id = str(uuid.uuid4())
    message = escape(message)
    if service == "ec2":
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f"<Response><Errors><Error><Code>{escape(code)}</Code>"
            f"<Message>{message}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        ).encode()
    return (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<Error><Type>Sender</Type><Code>{escape(code)}</Code>"
        f"<Message>{message}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()


def throttling_response(service: str) -> tuple[str, bytes]:
    """The status line and XML body AWS sends when it throttles this service."""
    if service == "sts":
        return "400 Bad Request", error_body(service, "Throttling", "Rate exceeded")
    return "503 Service Unavailable", error_body(
        service, "RequestLimitExceeded", "Request limit exceeded."
    )


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Error"


class LocalAwsMiddleware:
    """Counts calls, injects faults and latency, and serves the private control paths."""

    def __init__(
        self,
        app: WsgiApp,
        faults: FaultPlan | None = None,
        account_of: AccountResolver = _no_account,
        deregister: Deregistrar = _cannot_deregister,
    ) -> None:
        self.app = app
        self.faults = faults or FaultPlan()
        self.account_of = account_of
        self.deregister = deregister
        self._random = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.by_account: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.by_image: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.assume_role_requests: list[dict[str, Any]] = []
        self.rules: list[FaultRule] = []
        self._accounts: dict[str, str] = {}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL_PREFIX):
            return self._control(environ, start_response, path[len(CONTROL_PREFIX) :])

        body = _read_body(environ)
        service, operation = identify_call(environ, body)
        name = f"{service}:{operation}"
        form = request_form(environ, body) if service in THROTTLED_SERVICES else {}
        account = self._account(environ)
        with self._lock:
            self.calls[name] += 1
            self.by_account[account][name] += 1
            for image_id in _image_ids(form):
                self.by_image[image_id][name] += 1
            if name == "sts:AssumeRole":
                self.assume_role_requests.append(_assume_role_record(form))
            # One shared generator under the lock: the same seed gives the same
            # sequence of faults for the same sequence of calls.
            throttle = service in THROTTLED_SERVICES and self._random.random() < self.faults.rate
            if throttle:
                self.throttled[name] += 1
            # A throttled request never reached the service, so it does not use up a rule.
            rule = (
                None if throttle else next((r for r in self.rules if r.matches(name, form)), None)
            )
            if rule is not None:
                rule.hits += 1

        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        if throttle:
            status, payload = throttling_response(service)
            return _xml(start_response, status, payload)
        if rule is not None and rule.action == ERROR_ACTION:
            payload = error_body(service, rule.code, rule.message)
            return _xml(start_response, _status_line(rule.status), payload)
        if rule is not None and rule.action == DEREGISTER_ACTION:
            scope = credential_scope(environ)
            self.deregister(scope[2] if len(scope) >= 3 else "", rule.params["ImageId"])
        return self.app(environ, start_response)

    def _account(self, environ: dict[str, Any]) -> str:
        """The account a request acts as, from its access key; remembered per key."""
        scope = credential_scope(environ)
        if not scope:
            return "unknown"
        key = scope[0]
        if key not in self._accounts:
            self._accounts[key] = self.account_of(key)
        return self._accounts[key]

    def snapshot(self) -> dict[str, dict[str, int]]:
        """The counters as plain data, sorted by name."""
        with self._lock:
            return {
                "calls": dict(sorted(self.calls.items())),
                "throttled": dict(sorted(self.throttled.items())),
            }

    def reset(self) -> None:
        """Zero every counter and forget the AssumeRole requests seen."""
        with self._lock:
            self.calls.clear()
            self.throttled.clear()
            self.by_account.clear()
            self.by_image.clear()
            self.assume_role_requests.clear()

    def _control(
        self, environ: dict[str, Any], start_response: StartResponse, route: str
    ) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if route == "calls" and method == "GET":
            return _json(start_response, "200 OK", self.snapshot())
        if route == "calls/reset" and method == "POST":
            self.reset()
            return _json(start_response, "200 OK", {"reset": True})
        if route == "calls/by-account" and method == "GET":
            with self._lock:
                accounts = {a: dict(sorted(c.items())) for a, c in sorted(self.by_account.items())}
            return _json(start_response, "200 OK", {"accounts": accounts})
        if route == "calls/by-image" and method == "GET":
            with self._lock:
                images = {i: dict(sorted(c.items())) for i, c in sorted(self.by_image.items())}
            return _json(start_response, "200 OK", {"images": images})
        if route == "assume-role" and method == "GET":
            with self._lock:
                requests = list(self.assume_role_requests)
            return _json(start_response, "200 OK", {"requests": requests})
        if route == "faults":
            return self._faults(environ, start_response, method)
        return _json(start_response, "404 Not Found", {"error": f"no {method} /_local_aws/{route}"})

    def _faults(
        self, environ: dict[str, Any], start_response: StartResponse, method: str
    ) -> Iterable[bytes]:
        if method == "GET":
            with self._lock:
                rules = [asdict(rule) for rule in self.rules]
            return _json(start_response, "200 OK", {"rules": rules})
        if method == "DELETE":
            with self._lock:
                self.rules.clear()
            return _json(start_response, "200 OK", {"rules": []})
        if method == "POST":
            try:
                rule = FaultRule.from_json(json.loads(_read_body(environ) or b"null"))
            except ValueError as error:
                return _json(start_response, "400 Bad Request", {"error": str(error)})
            with self._lock:
                self.rules.append(rule)
                index = len(self.rules) - 1
            return _json(start_response, "200 OK", {"rule": index, **asdict(rule)})
        return _json(start_response, "404 Not Found", {"error": f"no {method} /_local_aws/faults"})


def _image_ids(form: dict[str, list[str]]) -> set[str]:
    """Image IDs a request names in its image fields."""
    return {
        value
        for key in IMAGE_FIELDS
        for value in _field_values(form, key)
        if value.startswith("ami-")
    }


def _assume_role_record(form: dict[str, list[str]]) -> dict[str, Any]:
    """What is kept of an AssumeRole request: never the ExternalId, only its digest."""
    external_id = (form.get("ExternalId") or [None])[0]
    return {
        "role_arn": (form.get("RoleArn") or [""])[0],
        "role_session_name": (form.get("RoleSessionName") or [""])[0],
        "external_id_sha256": (
            hashlib.sha256(external_id.encode()).hexdigest() if external_id is not None else None
        ),
    }


def _xml(start_response: StartResponse, status: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]


def _json(start_response: StartResponse, status: str, payload: Any) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
