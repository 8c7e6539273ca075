# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the resource_sharing.aws project
"""Launch permission principals, and reading the launch permissions of images.

A principal is named by one string: a 12-digit account ID, `all` for public, or an
organization or OU ARN. This is the form the account files, the plans and the results use;
`permission_for` and `principal_of` translate it to and from AWS's launch permission entries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import Account
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import AwsError
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import map_bounded

PUBLIC = "all"
ACCOUNT_ID = re.compile(r"\A[0-9]{12}\Z")
# The shapes the AWS Organizations API reference gives for organization and OU IDs.
ORGANIZATION_ARN = re.compile(
    r"\Aarn:aws(?:-[a-z]+)*:organizations::(?P<management>[0-9]{12}):"
    r"organization/o-[a-z0-9]{10,32}\Z"
)
OU_ARN = re.compile(
    r"\Aarn:aws(?:-[a-z]+)*:organizations::(?P<management>[0-9]{12}):"
    r"ou/o-[a-z0-9]{10,32}/ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}\Z"
)

ACCOUNT = "account"
ORGANIZATION = "organization"
ORGANIZATIONAL_UNIT = "organizational_unit"
EVERYONE = "public"


def principal_kind(principal: str) -> str:
    """Which kind of principal a string names, by its form; an account ID when nothing else."""
    if principal == PUBLIC:
        return EVERYONE
    if ":organization/" in principal:
        return ORGANIZATION
    if ":ou/" in principal:
        return ORGANIZATIONAL_UNIT
    return ACCOUNT


def principal_of(permission: Mapping[str, str]) -> str:
    """One launch permission entry of AWS as a principal string."""
    for field in ("UserId", "OrganizationArn", "OrganizationalUnitArn"):
        if field in permission:
            return permission[field]
    return permission.get("Group", "")


def permission_for(principal: str) -> dict[str, str]:
    """A principal string as the launch permission entry AWS takes."""
    field = {
        EVERYONE: "Group",
        ORGANIZATION: "OrganizationArn",
        ORGANIZATIONAL_UNIT: "OrganizationalUnitArn",
        ACCOUNT: "UserId",
    }[principal_kind(principal)]
    return {field: principal}


def principal_problem(principal: str) -> str | None:
    """Why a string cannot name a launch permission principal, or None when it can."""
    if principal == PUBLIC or any(
        p.match(principal) for p in (ACCOUNT_ID, ORGANIZATION_ARN, OU_ARN)
    ):
        return None
    return f"{principal!r} is neither a 12-digit account ID, an organization or OU ARN, nor 'all'"


def management_account(principal: str) -> str | None:
    """The management account named in an organization or OU ARN, or None for other principals."""
    match = ORGANIZATION_ARN.match(principal) or OU_ARN.match(principal)
    return match.group("management") if match else None


def read_launch_permissions(
    source: Account, image_ids: Iterable[str], workers: int
) -> tuple[dict[str, tuple[str, ...]], dict[str, AwsError]]:
    """Every principal of every image, one DescribeImageAttribute per image, in a pool.

    AWS has no list call that returns launch permissions (DescribeImages filters by one
    account, or by public, but never by organization), so this is the collection's one
    per-image read; only revocation and organization or OU shares need it.
    """

    def read(image_id: str) -> tuple[str, ...] | AwsError:
        try:
            answer = source.call(
                "ec2",
                "describe_image_attribute",
                ImageId=image_id,
                Attribute="launchPermission",
            )
        except AwsError as error:
            return error
        return tuple(principal_of(p) for p in answer.get("LaunchPermissions", []))

    image_ids = list(image_ids)
    permissions: dict[str, tuple[str, ...]] = {}
    errors: dict[str, AwsError] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for image_id, answer in zip(image_ids, map_bounded(pool, workers, read, image_ids)):
            if isinstance(answer, AwsError):
                errors[image_id] = answer
            else:
                permissions[image_id] = answer
    return permissions, errors
