# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the resource_sharing.aws project
"""The module's interface: documented options, argument checks, failures without secrets."""

from __future__ import annotations

import json
import socket

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args
from ansible_collections.resource_sharing.aws.plugins.doc_fragments import connection
from ansible_collections.resource_sharing.aws.plugins.module_utils import _share
from ansible_collections.resource_sharing.aws.plugins.modules import ami_share

SECRET = "unit-test-secret-that-must-never-be-printed"
TOKEN = "unit-test-session-token-that-must-never-be-printed"
DOCUMENTED = {
    **yaml.safe_load(connection.ModuleDocFragment.DOCUMENTATION)["options"],
    **yaml.safe_load(ami_share.DOCUMENTATION)["options"],
}
RETURNED = yaml.safe_load(ami_share.RETURN)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "EC2_REGION", "AWS_PROFILE", "AWS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def run_module(capsys):
    """Run main() with the given args; return the JSON it printed."""

    def run(args: dict) -> dict:
        with patch_module_args(args), pytest.raises(SystemExit):
            ami_share.main()
        return json.loads(capsys.readouterr().out)

    return run


@pytest.fixture
def no_aws(monkeypatch):
    """Fail the test if the module gets as far as opening an AWS session."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("the module opened an AWS session")

    monkeypatch.setattr(_share, "caller", refuse)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def base_args(**overrides) -> dict:
    args = {
        "region": "us-east-1",
        "name_regex": "^web-",
        "target_account_id": "022222222222",
        "target_role_arn": "arn:aws:iam::022222222222:role/ami-share",
        "access_key": "unit-test-key",
        "secret_key": SECRET,
        "session_token": TOKEN,
        "endpoint_url": closed_port_url(),
    }
    args.update(overrides)
    return args


def test_every_option_is_documented_with_its_type_default_and_aliases():
    assert set(DOCUMENTED) == set(ami_share.ARGUMENT_SPEC)
    for name, spec in ami_share.ARGUMENT_SPEC.items():
        doc = DOCUMENTED[name]
        assert doc["type"] == spec["type"], name
        assert doc.get("default") == spec.get("default"), name
        assert doc.get("required", False) == spec.get("required", False), name
        assert sorted(doc.get("aliases", [])) == sorted(spec.get("aliases", [])), name


def test_every_environment_fallback_is_named_in_the_documentation():
    for name, spec in ami_share.ARGUMENT_SPEC.items():
        text = " ".join(DOCUMENTED[name]["description"])
        for variable in spec.get("fallback", (None, []))[1]:
            assert f"E({variable})" in text, (name, variable)


def test_secrets_are_never_logged():
    secret_options = {n for n, spec in ami_share.ARGUMENT_SPEC.items() if spec.get("no_log")}
    assert secret_options == {"access_key", "secret_key", "session_token", "external_id"}


def test_every_returned_key_is_documented():
    assert set(RETURNED) == {
        "shared",
        "unshared",
        "untagged",
        "tagged",
        "tags_not_copied",
        "skipped_images",
        "image_count",
        "images",
        "failures",
        "plan",
        "diff",
        "error",
        "calls",
        "snapshots_shared",
        "snapshots_unshared",
        "kms_grants",
        "kms_keys",
    }


def test_invalid_regex_fails_naming_the_option_before_any_aws_call(run_module, no_aws):
    result = run_module(base_args(name_regex="web-["))

    assert result["failed"] is True
    assert result["msg"].startswith("name_regex 'web-[' is not a valid regex")


def test_empty_regex_fails_before_any_aws_call(run_module, no_aws):
    result = run_module(base_args(name_regex=""))

    assert result["msg"] == "name_regex must not be empty"


def test_account_id_with_eleven_digits_fails_before_any_aws_call(run_module, no_aws):
    result = run_module(base_args(target_account_id="22222222222"))

    assert result["msg"] == (
        "target_account_id must be a 12-digit account ID string, got '22222222222'"
    )


def test_copy_tags_without_target_role_fails_before_any_aws_call(run_module, no_aws):
    result = run_module(base_args(target_role_arn=None))

    assert result["msg"].startswith("copy_tags needs target_role_arn")


def test_region_comes_from_the_environment_when_not_given(run_module, monkeypatch, no_aws):
    monkeypatch.setenv("AWS_REGION", "not a region")
    args = base_args()
    del args["region"]

    result = run_module(args)

    assert result["msg"] == "region 'not a region' is not an AWS region name"


def test_accepts_the_amazon_aws_aliases(run_module, no_aws):
    args = base_args(aws_region="us-east-1", ec2_url="http://127.0.0.1:9", name_regex="(")
    for name in ("region", "endpoint_url", "access_key", "secret_key", "session_token"):
        args.pop(name)
    args.update(aws_access_key_id="k", aws_secret_access_key=SECRET, security_token=TOKEN)

    result = run_module(args)

    assert result["msg"].startswith("name_regex '(' is not a valid regex")


def test_unreachable_endpoint_fails_the_share_with_a_readable_message_and_no_secret(run_module):
    result = run_module(base_args(source_role_arn="arn:aws:iam::111111111111:role/ami-share"))

    assert result["failed"] is True
    assert result["msg"].startswith(
        "cannot share images with 022222222222 in us-east-1: AWS cannot be reached: check "
        "endpoint_url, the network and any proxy settings (AssumeRole failed: "
        "EndpointConnectionError: Could not connect to the endpoint URL"
    )
    assert result["error"]["code"] == "EndpointConnectionError"
    assert result["calls"] == {"sts:AssumeRole": 1}
    printed = json.dumps(result)
    assert SECRET not in printed
    assert TOKEN not in printed
