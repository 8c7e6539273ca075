# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the resource_sharing.aws project
"""Sessions, clients, role assumption, retry policy and error translation.

Every AWS call of the collection goes through `call` or `paginate` here, so that
retries (botocore's own `standard` mode), timeouts, call counting and the
translation of botocore errors into `AwsError` live in one place.
"""

from __future__ import annotations

import threading
import traceback
from collections import Counter
from collections import deque
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

try:
    import boto3
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
    from botocore.exceptions import ConnectionClosedError
    from botocore.exceptions import ConnectionError as EndpointUnreachable
    from botocore.exceptions import ReadTimeoutError
    from botocore.parsers import ResponseParserError
except ImportError:
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None

# Throttling and server errors get every one of `max_attempts`, spaced by botocore's
# backoff (up to 1, 2, 4, ... 20 s). An endpoint that cannot be reached, or never answers,
# gets UNANSWERED_ATTEMPTS: refused connections then fail in about 3 s, a silent address in
# about 12 s (3 s connect timeout each), a server that hangs in about 33 s.
# Limitation: botocore has no overall deadline per call; a call throttled on every attempt
# spends up to about 71 s in backoff (1 + 2 + 4 + 8 + 16 + 20 + 20) before it fails.
DEFAULT_MAX_ATTEMPTS = 8
UNANSWERED_ATTEMPTS = 3
DEFAULT_CONNECT_TIMEOUT = 3.0
DEFAULT_READ_TIMEOUT = 10.0

MUTATING_OPERATIONS = frozenset(
    {"ModifyImageAttribute", "CreateTags", "DeleteTags", "ModifySnapshotAttribute", "CreateGrant"}
)


class AwsError(Exception):
    """An AWS call that failed, as a person reads it: operation, error code, message."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{operation} failed: {code}: {message}")
        self.operation = operation
        self.code = code
        self.message = message

    def as_dict(self) -> dict[str, str]:
        """The error as returned data."""
        return {"operation": self.operation, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class Connection:
    """How to reach AWS: the caller's credentials, the region, the endpoint and the retry policy."""

    region: str
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    max_pool_connections: int = 10


class CallLog:
    """Counts API calls (not retry attempts) per `service:Operation`, across threads."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def record(self, model: Any = None, **_kwargs: Any) -> None:
        """botocore `before-parameter-build` hook, emitted once per call: count it."""
        name = f"{model.service_model.endpoint_prefix}:{model.name}"
        with self._lock:
            self._counts[name] += 1

    def as_dict(self) -> dict[str, int]:
        """The counts so far, sorted by name."""
        with self._lock:
            return dict(sorted(self._counts.items()))

    def mutating(self) -> int:
        """How many mutating calls were made."""
        with self._lock:
            return sum(
                n for name, n in self._counts.items() if name.split(":")[1] in MUTATING_OPERATIONS
            )


def client_config(connection: Connection) -> Config:
    """The one place where retries and timeouts are chosen."""
    return Config(
        retries={"mode": "standard", "max_attempts": connection.max_attempts},
        connect_timeout=connection.connect_timeout,
        read_timeout=connection.read_timeout,
        max_pool_connections=connection.max_pool_connections,
    )


def stop_retrying_silent_endpoints(
    attempts: int = 0, caught_exception: Exception | None = None, **_kwargs: Any
) -> None:
    """botocore `needs-retry` hook: give up on an unanswering endpoint after a few attempts.

    botocore's standard mode would treat it like throttling and spend every attempt with
    a growing backoff, which adds up to minutes; re-raising ends the call with that error.
    """
    if attempts >= UNANSWERED_ATTEMPTS and isinstance(
        caught_exception, (EndpointUnreachable, ConnectionClosedError, ReadTimeoutError)
    ):
        raise caught_exception


def translate_error(exc: Exception, operation: str) -> AwsError:
    """Turn a botocore exception into an `AwsError` that names the operation and the code."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return AwsError(operation, error.get("Code", "Unknown"), error.get("Message", str(exc)))
    return AwsError(operation, type(exc).__name__, str(exc))


class Account:
    """One identity in the region: its credentials, its clients and, when known, its account ID.

    Every identity makes its clients from the caller's one session, with its own
    credentials: each boto3 session loads service models for itself (tens of MB for EC2),
    so a session per assumed role would multiply the module's memory.
    """

    def __init__(
        self,
        session: Any,
        connection: Connection,
        calls: CallLog,
        account_id: str | None = None,
        credentials: dict[str, str] | None = None,
    ) -> None:
        self.session = session
        self.connection = connection
        self.calls = calls
        self.account_id = account_id
        self._credentials = credentials or {}
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        """A client for `service`, created once; clients (unlike sessions) are thread-safe."""
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self._new_client(service)
            return self._clients[service]

    def _new_client(self, service: str) -> Any:
        """Make a client with the one retry policy, counted, for this identity."""
        try:
            client = self.session.client(
                service,
                region_name=self.connection.region,
                endpoint_url=self.connection.endpoint_url,
                config=client_config(self.connection),
                **self._credentials,
            )
        except (BotoCoreError, ValueError) as exc:
            raise translate_error(exc, f"create {service} client") from exc
        # Every handler of this event runs (unlike before-call, which stops at the
        # first answer, a Stubber's in tests), so no call escapes the count.
        client.meta.events.register("before-parameter-build", self.calls.record)
        client.meta.events.register("needs-retry", stop_retrying_silent_endpoints)
        return client

    def call(self, service: str, method: str, **params: Any) -> dict[str, Any]:
        """Call `method` of `service`, raising `AwsError` on failure."""
        client = self.client(service)
        operation = client.meta.method_to_api_mapping.get(method, method)
        try:
            return getattr(client, method)(**params)
        except (BotoCoreError, ClientError) as exc:
            raise translate_error(exc, operation) from exc
        except (KeyError, ResponseParserError) as exc:
            # botocore's parsers fail this way on an answer that is not AWS's XML or JSON.
            raise not_aws(operation, "expected fields") from exc

    def change(self, service: str, method: str, **params: Any) -> AwsError | None:
        """Call a `method` whose answer says nothing more than success: its error, or None.

        For the per-image and per-snapshot writes, whose failures are recorded one by one.
        """
        try:
            self.call(service, method, **params)
        except AwsError as error:
            return error
        return None

    def paginate(self, service: str, method: str, key: str, **params: Any) -> Iterator[Any]:
        """Yield every item under `key` of every page of `method`, raising `AwsError` on failure."""
        client = self.client(service)
        operation = client.meta.method_to_api_mapping.get(method, method)
        try:
            for page in client.get_paginator(method).paginate(**params):
                if key not in page:
                    raise not_aws(operation, key)
                items = page[key]
                yield from items
                # botocore's page iterator holds this page while it fetches and parses the
                # next one; emptied, only one page of items (1,000 images) is alive at a time.
                items.clear()
        except (BotoCoreError, ClientError) as exc:
            raise translate_error(exc, operation) from exc
        except (KeyError, ResponseParserError) as exc:
            raise not_aws(operation, "expected fields") from exc


def not_aws(operation: str, missing: str) -> AwsError:
    """The error for an answer without what every AWS answer to `operation` has.

    An endpoint that is not AWS (a web server, a proxy's login page) answers with
    something botocore parses as empty; read as "no images", that would be a silent no-op.
    """
    return AwsError(
        operation,
        "UnexpectedResponse",
        f"the answer has no {missing}: is endpoint_url an AWS endpoint?",
    )


# botocore's data loader, shared by every session of the process. A loader keeps what it
# read (endpoints, service models); each session with a loader of its own read them again, at
# about 25 MB for the endpoints and the EC2 model, which the region check and the caller's
# session both need.
_loader_lock = threading.Lock()
_loader: Any = None


def new_session(**options: Any) -> Any:
    """A boto3 session with `options` whose botocore data is read once per process.

    Only the loader is shared: credentials and profile stay each session's own.
    """
    global _loader
    core = botocore.session.get_session()
    with _loader_lock:
        if _loader is None:
            _loader = core.get_component("data_loader")
        else:
            core.register_component("data_loader", _loader)
    session = boto3.Session(botocore_session=core, **options)
    # A session's own loader reads the profile as it is made; with the shared one, read it
    # here, so that an unknown profile still fails when the session is opened.
    core.get_scoped_config()
    return session


def known_regions(service: str = "ec2") -> set[str]:
    """Every region botocore knows an endpoint of `service` in, over all partitions."""
    session = new_session()
    return {
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions(service, partition_name=partition)
    }


def account_from_arn(arn: str) -> str:
    """The account ID field of an ARN (`arn:partition:service:region:account:resource`)."""
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 else ""


def caller(connection: Connection, calls: CallLog) -> Account:
    """The calling identity, from the connection options or the usual boto3 chain."""
    try:
        session = new_session(
            aws_access_key_id=connection.access_key,
            aws_secret_access_key=connection.secret_key,
            aws_session_token=connection.session_token,
            profile_name=connection.profile,
            region_name=connection.region,
        )
    except BotoCoreError as exc:
        raise translate_error(exc, "open session") from exc
    return Account(session, connection, calls)


def assume_role(
    base: Account, role_arn: str, session_name: str, external_id: str | None = None
) -> Account:
    """Assume `role_arn` from `base`; the new account's ID is read from the assumed-role ARN."""
    params: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": session_name}
    if external_id:
        params["ExternalId"] = external_id
    response = base.call("sts", "assume_role", **params)
    if "Credentials" not in response or "AssumedRoleUser" not in response:
        raise not_aws("AssumeRole", "Credentials")

    credentials = response["Credentials"]
    account_id = account_from_arn(response["AssumedRoleUser"]["Arn"])
    return Account(
        base.session,
        base.connection,
        base.calls,
        account_id,
        {
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        },
    )


def identify(account: Account) -> str:
    """The account ID of `account`, asking STS only when it is not known yet."""
    if account.account_id is None:
        account.account_id = account.call("sts", "get_caller_identity")["Account"]
    return account.account_id


def map_bounded(
    pool: ThreadPoolExecutor, workers: int, function: Callable[[Any], Any], items: Iterable[Any]
) -> Iterator[Any]:
    """`pool.map` that keeps a few calls per worker in flight rather than one per item.

    `ThreadPoolExecutor.map` submits every item at once; with 10,000 images that is 10,000
    futures and their results alive until the end. Results come back in the items' order.
    """
    pending: deque = deque()
    for item in items:
        if len(pending) >= 4 * workers:
            yield pending.popleft().result()
        pending.append(pool.submit(function, item))
    while pending:
        yield pending.popleft().result()
