# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the resource_sharing.aws project
"""Sessions, retry policy, call counting and error translation, without reaching AWS."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import time

import pytest
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import AwsError
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import CallLog
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import Connection
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import account_from_arn
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import assume_role
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import caller
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import client_config
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import identify
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import translate_error
from botocore.exceptions import ClientError
from botocore.stub import Stubber

FAKE_KEYS = {"access_key": "unit-test-key", "secret_key": "unit-test-secret"}


def closed_port() -> int:
    """A loopback port that nothing listens on: connections to it are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stubbed(service: str, calls: CallLog | None = None):
    """An account whose `service` client answers from a Stubber; nothing leaves the process."""
    connection = Connection("us-east-1", endpoint_url="http://127.0.0.1:9", **FAKE_KEYS)
    account = caller(connection, calls or CallLog())
    stubber = Stubber(account.client(service))
    stubber.activate()
    return account, stubber


def test_uses_botocore_standard_retries_and_short_timeouts():
    config = client_config(Connection("us-east-1", max_attempts=5, connect_timeout=2.0))

    assert config.retries == {"mode": "standard", "max_attempts": 5}
    assert config.connect_timeout == 2.0
    assert config.read_timeout == 10.0


def test_translates_client_errors_to_operation_code_and_message():
    exc = ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "AssumeRole")

    error = translate_error(exc, "AssumeRole")

    assert error.as_dict() == {
        "operation": "AssumeRole",
        "code": "AccessDenied",
        "message": "not allowed",
    }
    assert str(error) == "AssumeRole failed: AccessDenied: not allowed"


def test_reads_the_account_from_an_assumed_role_arn():
    assert account_from_arn("arn:aws:sts::012345678901:assumed-role/ami-share/s") == "012345678901"
    assert account_from_arn("not-an-arn") == ""


def test_assume_role_passes_external_id_and_session_name_and_learns_the_account():
    calls = CallLog()
    base, stubber = stubbed("sts", calls)
    stubber.add_response(
        "assume_role",
        {
            "Credentials": {
                "AccessKeyId": "ASIAFAKEFAKEFAKE",
                "SecretAccessKey": "fake-secret",
                "SessionToken": "fake-token",
                "Expiration": "2030-01-01T00:00:00Z",
            },
            "AssumedRoleUser": {
                "AssumedRoleId": "AROAFAKE:s",
                "Arn": "arn:aws:sts::022222222222:assumed-role/ami-share/s",
            },
        },
        {
            "RoleArn": "arn:aws:iam::022222222222:role/ami-share",
            "RoleSessionName": "resource-sharing-aws-111111111111",
            "ExternalId": "fleet-external-id",
        },
    )

    target = assume_role(
        base,
        "arn:aws:iam::022222222222:role/ami-share",
        "resource-sharing-aws-111111111111",
        "fleet-external-id",
    )

    stubber.assert_no_pending_responses()
    assert target.account_id == "022222222222"
    assert identify(target) == "022222222222"
    assert calls.as_dict() == {"sts:AssumeRole": 1}


def test_counts_calls_and_mutating_calls_per_operation():
    calls = CallLog()
    account, stubber = stubbed("ec2", calls)
    stubber.add_response("describe_images", {"Images": []})
    stubber.add_response("create_tags", {})
    stubber.add_client_error("create_tags", "UnauthorizedOperation", "no")

    account.call("ec2", "describe_images", Owners=["self"])
    account.call("ec2", "create_tags", Resources=["ami-1"], Tags=[{"Key": "a", "Value": "b"}])
    with pytest.raises(AwsError) as raised:
        account.call("ec2", "create_tags", Resources=["ami-1"], Tags=[{"Key": "a", "Value": "b"}])

    assert raised.value.as_dict() == {
        "operation": "CreateTags",
        "code": "UnauthorizedOperation",
        "message": "no",
    }
    assert calls.as_dict() == {"ec2:CreateTags": 2, "ec2:DescribeImages": 1}
    assert calls.mutating() == 2


def test_paginate_yields_items_of_every_page():
    account, stubber = stubbed("ec2")
    stubber.add_response("describe_images", {"Images": [{"ImageId": "ami-1"}], "NextToken": "t"})
    stubber.add_response("describe_images", {"Images": [{"ImageId": "ami-2"}]})

    images = list(account.paginate("ec2", "describe_images", "Images", Owners=["self"]))

    assert [image["ImageId"] for image in images] == ["ami-1", "ami-2"]


def test_paginate_lets_go_of_each_page_before_it_fetches_the_next():
    account, stubber = stubbed("ec2")
    first_page = {"Images": [{"ImageId": "ami-1"}], "NextToken": "t"}
    stubber.add_response("describe_images", first_page)
    stubber.add_response("describe_images", {"Images": [{"ImageId": "ami-2"}]})
    pages = account.paginate("ec2", "describe_images", "Images", Owners=["self"])

    assert next(pages)["ImageId"] == "ami-1"
    assert next(pages)["ImageId"] == "ami-2"

    # botocore's page iterator still holds the first page; its images are gone.
    assert first_page["Images"] == []


def test_sessions_share_botocore_data_but_not_credentials():
    one = caller(Connection("us-east-1", access_key="key-one", secret_key="s1"), CallLog())
    two = caller(Connection("us-east-1", access_key="key-two", secret_key="s2"), CallLog())

    loader = one.session._session.get_component("data_loader")
    assert two.session._session.get_component("data_loader") is loader
    assert one.session.get_credentials().access_key == "key-one"
    assert two.session.get_credentials().access_key == "key-two"


def test_an_unreachable_endpoint_fails_fast_with_a_readable_error():
    connection = Connection(
        "us-east-1", endpoint_url=f"http://127.0.0.1:{closed_port()}", **FAKE_KEYS
    )
    started = time.monotonic()

    with pytest.raises(AwsError) as raised:
        caller(connection, CallLog()).call("sts", "get_caller_identity")

    assert time.monotonic() - started < 15
    assert raised.value.operation == "GetCallerIdentity"
    assert raised.value.code == "EndpointConnectionError"
    assert "Could not connect to the endpoint URL" in raised.value.message


def test_a_server_that_never_answers_gets_three_attempts_not_eight():
    sends = []
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # Connections complete in the kernel; nothing ever reads or answers.
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        connection = Connection("us-east-1", endpoint_url=url, read_timeout=0.2, **FAKE_KEYS)
        account = caller(connection, CallLog())
        account.client("sts").meta.events.register("before-send", lambda **_: sends.append(1))

        with pytest.raises(AwsError) as raised:
            account.call("sts", "get_caller_identity")

    assert raised.value.code == "ReadTimeoutError"
    assert len(sends) == 3


def test_an_unknown_profile_is_an_aws_error_not_a_crash():
    connection = Connection("us-east-1", profile="no-such-profile-for-unit-tests")

    with pytest.raises(AwsError) as raised:
        caller(connection, CallLog())

    assert raised.value.code == "ProfileNotFound"


@contextlib.contextmanager
def web_page_server():
    """A loopback HTTP server that answers every request with a web page, as a portal would."""

    class WebPage(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = b"<html><body>Please log in</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), WebPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_endpoint_that_is_not_aws_is_an_error_not_an_empty_listing():
    with web_page_server() as url:
        account = caller(Connection("us-east-1", endpoint_url=url, **FAKE_KEYS), CallLog())
        with pytest.raises(AwsError) as listing:
            list(account.paginate("ec2", "describe_images", "Images", Owners=["self"]))
        with pytest.raises(AwsError) as assuming:
            assume_role(account, "arn:aws:iam::111111111111:role/ami-share", "unit-test")

    assert (listing.value.operation, listing.value.code) == ("DescribeImages", "UnexpectedResponse")
    assert "is endpoint_url an AWS endpoint?" in listing.value.message
    assert (assuming.value.operation, assuming.value.code) == ("AssumeRole", "UnexpectedResponse")
