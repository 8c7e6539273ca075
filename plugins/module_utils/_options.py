# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the resource_sharing.aws project
"""Argument specs shared by the modules: how to reach AWS and which identity acts as the source.

The matching documentation is the doc fragment `resource_sharing.aws.connection`.
"""

from __future__ import annotations

from typing import Any

try:
    from ansible.module_utils.basic import env_fallback
except ImportError:  # Only the modules read the specs; the planning code runs without Ansible.
    env_fallback = None


def env(*names: str) -> dict[str, Any]:
    """A fallback on the first of these environment variables that is set."""
    return {"fallback": (env_fallback, list(names))}


CONNECTION_SPEC: dict[str, dict[str, Any]] = {
    "region": {
        "type": "str",
        "required": True,
        "aliases": ["aws_region", "ec2_region"],
        **env("AWS_REGION", "AWS_DEFAULT_REGION", "EC2_REGION"),
    },
    "source_account_id": {"type": "str"},
    "source_role_arn": {"type": "str"},
    "external_id": {"type": "str", "no_log": True},
    "role_session_name": {"type": "str"},
    "access_key": {
        "type": "str",
        "no_log": True,
        "aliases": ["aws_access_key_id", "aws_access_key", "ec2_access_key"],
        **env("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "EC2_ACCESS_KEY"),
    },
    "secret_key": {
        "type": "str",
        "no_log": True,
        "aliases": ["aws_secret_access_key", "aws_secret_key", "ec2_secret_key"],
        **env("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "EC2_SECRET_KEY"),
    },
    "session_token": {
        "type": "str",
        "no_log": True,
        "aliases": ["aws_session_token", "security_token", "aws_security_token"],
        **env("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "EC2_SECURITY_TOKEN"),
    },
    "profile": {"type": "str", "aliases": ["aws_profile"], **env("AWS_PROFILE")},
    "endpoint_url": {
        "type": "str",
        "aliases": ["ec2_url", "aws_endpoint_url"],
        **env("AWS_URL", "EC2_URL"),
    },
    "workers": {"type": "int", "default": 8},
    "max_attempts": {"type": "int", "default": 8},
    "connect_timeout": {"type": "float", "default": 3},
    "read_timeout": {"type": "float", "default": 10},
}
