"""The ``local-aws`` command: a moto server on loopback with cross-account AMI sharing.

    local-aws serve [--host 127.0.0.1] [--port 5000] [--seed FILE]
                    [--fault-rate F] [--fault-seed N] [--latency-ms N] [--log-requests]

``serve`` prints exactly one line on stdout, ``local-aws ready at http://HOST:PORT``,
once the socket accepts connections, serves until SIGINT or SIGTERM and exits 0.
Bad arguments, a non-loopback host or a bad seed file exit 2 with the reason on stderr.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
# moto builds one Flask app per service on its first request; these are the
# services the collection calls, built before the ready line so that the first
# test request is not the slow one.
WARM_SERVICES = ("ec2", "sts", "kms", "iam")
USAGE_ERROR = 2
HIGHEST_PORT = 65535
# The connection backlog of socketserver, which werkzeug uses when it binds itself.
LISTEN_BACKLOG = 5


class PortInUseError(OSError):
    """Another socket already listens on the host and port asked for."""


def _fault_rate(text: str) -> float:
    rate = float(text)
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return rate


def _non_negative(text: str) -> int:
    number = int(text)
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


def _port(text: str) -> int:
    number = _non_negative(text)
    if number > HIGHEST_PORT:
        raise argparse.ArgumentTypeError(f"must be {HIGHEST_PORT} or less")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The command line: one sub-command today, room for more flags and commands."""
    parser = argparse.ArgumentParser(
        prog="local-aws", description="A local AWS (moto) with cross-account AMI sharing."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the local AWS on a loopback address")
    serve.add_argument("--host", default=DEFAULT_HOST, help="loopback address to bind")
    serve.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help="TCP port; 0 picks a free one"
    )
    serve.add_argument("--seed", type=Path, help="YAML file of accounts and images to create")
    serve.add_argument(
        "--fault-rate",
        type=_fault_rate,
        default=0.0,
        help="fraction of EC2 and STS calls answered with the AWS throttling error",
    )
    serve.add_argument(
        "--fault-seed", type=int, default=None, help="seed for the fault draw (repeatable runs)"
    )
    serve.add_argument(
        "--latency-ms", type=_non_negative, default=0, help="delay before every answer"
    )
    serve.add_argument("--log-requests", action="store_true", help="log each request on stderr")
    return parser


def is_loopback(host: str) -> bool:
    """Whether the host is a loopback address (or the name localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _prepare_environment() -> None:
    """Settings moto reads at import time, so this runs before any moto import."""
    # Seeded and created images only: not moto's ~1,300 public AMIs.
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    # Nothing here may reach the cloud metadata address.
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    # A fixed account would make every caller the same account and defeat AssumeRole.
    os.environ.pop("MOTO_ACCOUNT_ID", None)


def _build_app(args: argparse.Namespace) -> Any:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from moto.moto_server.werkzeug_app import create_backend_app

    from tools.local_aws.hooks import account_of
    from tools.local_aws.hooks import deregister_anywhere
    from tools.local_aws.middleware import FaultPlan
    from tools.local_aws.middleware import LocalAwsMiddleware

    dispatcher = DomainDispatcherApplication(create_backend_app)
    for service in WARM_SERVICES:
        dispatcher.app_instances[service] = create_backend_app(service)
    faults = FaultPlan(rate=args.fault_rate, seed=args.fault_seed, latency_ms=args.latency_ms)
    return LocalAwsMiddleware(dispatcher, faults, account_of, deregister_anywhere)


def _listen(host: str, port: int) -> socket.socket:
    """A socket listening on host and port, bound here so that the errors are ours to word."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As socketserver does: a port left in TIME_WAIT by a previous run is reusable.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host.strip("[]"), port))
        listener.listen(LISTEN_BACKLOG)
    except OSError as error:
        listener.close()
        if error.errno == errno.EADDRINUSE:
            raise PortInUseError(f"port {port} on {host} is in use") from error
        raise
    return listener


def _url_of(listener: socket.socket) -> str:
    """The URL of the address actually bound (localhost binds 127.0.0.1 only)."""
    address, port = listener.getsockname()[:2]
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}"


def serve(args: argparse.Namespace) -> int:
    """Start, announce, serve until a stop signal, stop; the exit status."""
    if not is_loopback(args.host):
        print(
            f"local-aws: refusing to serve on {args.host}: only loopback addresses are allowed",
            file=sys.stderr,
        )
        return USAGE_ERROR

    _prepare_environment()
    from werkzeug.serving import make_server

    from tools.local_aws import sharing
    from tools.local_aws import snapshots
    from tools.local_aws.seed import SeedError
    from tools.local_aws.seed import load_seed

    sharing.install()
    snapshots.install()  # After sharing: it wraps sharing's CopyImage and RunInstances.
    if args.seed is not None:
        try:
            load_seed(args.seed)
        except (OSError, SeedError) as error:
            print(f"local-aws: cannot load seed {args.seed}: {error}", file=sys.stderr)
            return USAGE_ERROR
    if not args.log_requests:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    try:
        listener = _listen(args.host, args.port)
    except PortInUseError as error:
        print(f"local-aws: {error}", file=sys.stderr)
        return USAGE_ERROR
    except OSError as error:
        print(
            f"local-aws: cannot listen on port {args.port} on {args.host}: {error.strerror}",
            file=sys.stderr,
        )
        return USAGE_ERROR
    app = _build_app(args)
    with listener:
        # werkzeug serves on its own duplicate of the descriptor.
        server = make_server(args.host, args.port, app, threaded=True, fd=listener.fileno())
        url = _url_of(listener)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    serving = threading.Thread(
        # A short poll interval makes shutdown() return quickly after a signal.
        target=server.serve_forever,
        kwargs={"poll_interval": 0.1},
        name="local-aws",
        daemon=True,
    )
    serving.start()

    # The socket listens since _listen, so a client may connect from now on.
    print(f"local-aws ready at {url}", flush=True)
    while not stop.wait(timeout=0.2):
        pass

    server.shutdown()
    serving.join()
    server.server_close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of scripts/local-aws."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return USAGE_ERROR
