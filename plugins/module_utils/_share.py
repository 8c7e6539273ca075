# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the resource_sharing.aws project
"""One share, end to end: check the options, connect, read, plan, apply and report."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial
from typing import Any

from ansible_collections.resource_sharing.aws.plugins.module_utils._access import AccessOutcome
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import AccessPlan
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import access_report
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import apply_access
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import keys_of_images
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import plan_keys
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import plan_snapshots
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import read_granted_keys
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import (
    read_permitted_snapshot_ids,
)
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import Account
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import AwsError
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import CallLog
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import Connection
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import account_from_arn
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import assume_role
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import caller
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import identify
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import known_regions
from ansible_collections.resource_sharing.aws.plugins.module_utils._images import Outcome
from ansible_collections.resource_sharing.aws.plugins.module_utils._images import apply_plan
from ansible_collections.resource_sharing.aws.plugins.module_utils._images import (
    read_managed_key_images,
)
from ansible_collections.resource_sharing.aws.plugins.module_utils._images import (
    read_public_image_ids,
)
from ansible_collections.resource_sharing.aws.plugins.module_utils._images import (
    read_shared_image_ids,
)
from ansible_collections.resource_sharing.aws.plugins.module_utils._images import read_snapshot_keys
from ansible_collections.resource_sharing.aws.plugins.module_utils._images import read_source_images
from ansible_collections.resource_sharing.aws.plugins.module_utils._images import read_target_tags
from ansible_collections.resource_sharing.aws.plugins.module_utils._permissions import ACCOUNT
from ansible_collections.resource_sharing.aws.plugins.module_utils._permissions import ACCOUNT_ID
from ansible_collections.resource_sharing.aws.plugins.module_utils._permissions import EVERYONE
from ansible_collections.resource_sharing.aws.plugins.module_utils._permissions import (
    ORGANIZATION_ARN,
)
from ansible_collections.resource_sharing.aws.plugins.module_utils._permissions import OU_ARN
from ansible_collections.resource_sharing.aws.plugins.module_utils._permissions import PUBLIC
from ansible_collections.resource_sharing.aws.plugins.module_utils._permissions import (
    principal_kind,
)
from ansible_collections.resource_sharing.aws.plugins.module_utils._permissions import (
    read_launch_permissions,
)
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import DETAIL_LIMIT
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import MAX_TAG_KEY_LENGTH
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import MAX_TAG_VALUE_LENGTH
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import RESERVED_TAG_PREFIX
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import SHARE
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import SHAREABLE_STATE
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import TAG
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import UNTAG
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import ImagePlan
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import Plan
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import RegexTooSlow
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import SourceImage
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import build_plan
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import copy_source_tags
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import image_diff
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import summary_diff
from ansible_collections.resource_sharing.aws.plugins.module_utils._tags import DEFAULT_POLICY
from ansible_collections.resource_sharing.aws.plugins.module_utils._tags import TagPolicy
from ansible_collections.resource_sharing.aws.plugins.module_utils._tags import is_record_key
from ansible_collections.resource_sharing.aws.plugins.module_utils._tags import plan_image_tags

TARGET_OPTIONS = (
    "target_account_id",
    "target_organization_arn",
    "target_organizational_unit_arn",
    "target_public",
)
ORGANIZATION_SHAPE = "an organization ARN, arn:aws:organizations::<account>:organization/o-<id>"
OU_SHAPE = "an OU ARN, arn:aws:organizations::<account>:ou/o-<id>/ou-<id>"
# Why tags go only to an account: each account sees its own tags on a shared image, and an
# organization, an OU or everyone is no single account whose view could be written.
TAGS_NEED_AN_ACCOUNT = (
    "tags are not copied: only a target account has a view of the images to write them in, "
    "and an organization, an OU or the public has none"
)
REGION = re.compile(r"\A[a-z]{2,}(-[a-z0-9]+)+-[0-9]+\Z")
SESSION_NAME_PREFIX = "resource-sharing-aws-"


# What a person should do about errors that are not about one share or image but about
# the calling identity or the way to AWS; every share of the run will meet them too.
EXPIRED = "the credentials of the calling identity have expired: renew them and run again"
NOT_VALID = "AWS does not accept the credentials of the calling identity: check the access key"
CALLER_PROBLEMS = {
    "ExpiredToken": EXPIRED,
    "ExpiredTokenException": EXPIRED,
    "RequestExpired": EXPIRED,
    "InvalidClientTokenId": NOT_VALID,
    "UnrecognizedClientException": NOT_VALID,
    "SignatureDoesNotMatch": (
        "the secret key of the calling identity does not match its access key: check it"
    ),
    "NoCredentialsError": (
        "no credentials for the calling identity: set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the module's access_key and secret_key"
    ),
    "EndpointConnectionError": (
        "AWS cannot be reached: check endpoint_url, the network and any proxy settings"
    ),
    "ConnectTimeoutError": (
        "AWS cannot be reached (connection timed out): check endpoint_url and the network"
    ),
    "ReadTimeoutError": "AWS did not answer in time: the endpoint may be overloaded; run again",
    "ConnectionClosedError": "AWS closed the connection: the endpoint may be overloaded; run again",
}


class ShareError(Exception):
    """The share as a whole cannot go on; the message says why, without secrets."""

    def __init__(
        self,
        message: str,
        calls: Mapping[str, int] | None = None,
        error: AwsError | None = None,
    ) -> None:
        super().__init__(message)
        self.calls = dict(calls or {})
        self.error = error

    def as_dict(self) -> dict[str, Any]:
        """What the module returns with the failure: the AWS error when there is one."""
        result: dict[str, Any] = {"calls": self.calls}
        if self.error is not None:
            result["error"] = self.error.as_dict()
        return result


def explain(error: AwsError) -> str:
    """The error with, when it is about the caller or the endpoint, what to do about it."""
    advice = CALLER_PROBLEMS.get(error.code)
    return f"{advice} ({error})" if advice else str(error)


def check_region_known(region: str) -> None:
    """Refuse a well-formed region name that no AWS partition has, before any AWS call.

    Without this, AWS's own endpoint for such a region does not resolve and the share
    fails only after botocore's retries.
    """
    # Limitation: a region newer than the installed botocore is refused as unknown.
    if region not in known_regions("ec2"):
        raise ShareError(
            f"region {region!r} is not an EC2 region that this botocore knows; check the "
            "name, or upgrade botocore if the region is new"
        )


def name_patterns(params: Mapping[str, Any], problems: list[str]) -> list[re.Pattern[str]]:
    """The compiled name regexes of `name_regex` or `name_regexes`; problems are appended."""
    if params.get("name_regexes") is not None:
        option, expressions = "name_regexes", params["name_regexes"]
        if not expressions:
            problems.append("name_regexes must not be empty")
    else:
        option, expressions = "name_regex", [params.get("name_regex")]
    patterns = []
    for expression in expressions:
        if not expression:
            problems.append(
                f"{option} must not be empty"
                if option == "name_regex"
                else f"{option} must not hold an empty regex"
            )
            continue
        try:
            patterns.append(re.compile(expression))
        except re.error as exc:
            problems.append(f"{option} {expression!r} is not a valid regex: {exc}")
    return patterns


def target_principal(params: Mapping[str, Any]) -> str | None:
    """Who the share is with, as a principal string; None when the options name no one."""
    if params.get("target_account_id") is not None:
        return params["target_account_id"]
    if params.get("target_organization_arn") is not None:
        return params["target_organization_arn"]
    if params.get("target_organizational_unit_arn") is not None:
        return params["target_organizational_unit_arn"]
    return PUBLIC if params.get("target_public") else None


def target_problems(params: Mapping[str, Any]) -> list[str]:
    """What is wrong with the options that name the target: exactly one, well formed."""
    named = [option for option in TARGET_OPTIONS if params.get(option) not in (None, False)]
    if len(named) != 1:
        return [f"exactly one of {', '.join(TARGET_OPTIONS)} is required, got {len(named)}"]

    problems = []
    for option, pattern, shape in (
        ("target_account_id", ACCOUNT_ID, "a 12-digit account ID string"),
        ("target_organization_arn", ORGANIZATION_ARN, ORGANIZATION_SHAPE),
        ("target_organizational_unit_arn", OU_ARN, OU_SHAPE),
    ):
        value = params.get(option)
        if value is not None and not pattern.match(value):
            problems.append(f"{option} must be {shape}, got {value!r}")
    # Public is one flag away from every image the regexes match: it takes a second one.
    if params.get("target_public") and not params.get("allow_public"):
        problems.append("target_public shares with everyone: it needs allow_public=true as well")
    if params.get("allow_public") and not params.get("target_public"):
        problems.append("allow_public goes only with target_public=true")
    # Snapshot permissions and KMS grants name one account; AWS has no organization form.
    for option in ("share_snapshots", "share_kms_keys"):
        if params.get(option) and params.get("target_account_id") is None:
            problems.append(f"{option} needs target_account_id: it grants to one account")
    return problems


def check_options(params: Mapping[str, Any]) -> list[re.Pattern[str]]:
    """Refuse bad options before any AWS call; return the compiled name regexes."""
    problems: list[str] = []
    patterns = name_patterns(params, problems)
    problems.extend(target_problems(params))
    source_account_id = params.get("source_account_id")
    if source_account_id is not None and not ACCOUNT_ID.match(source_account_id):
        problems.append(
            f"source_account_id must be a 12-digit account ID string, got {source_account_id!r}"
        )
    if not REGION.match(params["region"] or ""):
        problems.append(f"region {params['region']!r} is not an AWS region name")
    if source_account_id is not None and source_account_id == params.get("target_account_id"):
        problems.append(
            "target_account_id is the source account; an image is not shared with its owner"
        )
    if params["copy_tags"] and is_account_share(params) and not params.get("target_role_arn"):
        problems.append(
            "copy_tags needs target_role_arn: only the target account can tag the images shared "
            "with it (set copy_tags=false to share without tags)"
        )
    endpoint = params.get("endpoint_url")
    # An empty endpoint must not quietly mean "the real AWS endpoints".
    if endpoint is not None and not re.match(r"^https?://[^/\s]+", endpoint):
        problems.append(f"endpoint_url must be an http(s) URL, got {endpoint!r}")
    problems.extend(tag_option_problems(params))
    for option in ("workers", "max_attempts", "connect_timeout", "read_timeout"):
        if params[option] <= 0:
            problems.append(f"{option} must be greater than 0, got {params[option]}")

    if problems or not patterns:
        raise ShareError("; ".join(problems))
    return patterns


def tag_option_problems(params: Mapping[str, Any]) -> list[str]:
    """What is wrong with the tag policy options."""
    problems = []
    for key, value in (params.get("extra_tags") or {}).items():
        if key.startswith(RESERVED_TAG_PREFIX) or is_record_key(key):
            problems.append(f"extra_tags: the key {key!r} is reserved")
        elif not key or len(key) > MAX_TAG_KEY_LENGTH:
            problems.append(f"extra_tags: the key {key!r} must have 1 to 128 characters")
        elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
            problems.append(
                f"extra_tags: the value of {key!r} must be text, got {type(value).__name__}: "
                "quote it in YAML (a tag value is a string)"
            )
        elif len(str(value)) > MAX_TAG_VALUE_LENGTH:
            problems.append(f"extra_tags: the value of {key!r} is longer than 256 characters")
    uses_policy = tag_policy(params) != DEFAULT_POLICY
    if uses_policy and not params["copy_tags"] and params.get("state", "present") == "present":
        problems.append("tag_include, tag_exclude, extra_tags and prune_tags need copy_tags=true")
    return problems


def connection_from(params: Mapping[str, Any]) -> Connection:
    """The connection options of the module as a `Connection`."""
    return Connection(
        region=params["region"],
        access_key=params.get("access_key"),
        secret_key=params.get("secret_key"),
        session_token=params.get("session_token"),
        profile=params.get("profile"),
        endpoint_url=params.get("endpoint_url"),
        max_attempts=params["max_attempts"],
        connect_timeout=params["connect_timeout"],
        read_timeout=params["read_timeout"],
        max_pool_connections=max(10, params["workers"]),
    )


def session_name(params: Mapping[str, Any]) -> str:
    """The AssumeRole session name: given, or one naming the product and the source account."""
    return params.get("role_session_name") or SESSION_NAME_PREFIX + (
        params.get("source_account_id") or "source"
    )


def refuse_wrong_accounts(
    source_id: str | None, target_id: str | None, params: Mapping[str, Any]
) -> None:
    """Stop before any change when an identity is not the account the share declares."""
    declared_source = params.get("source_account_id")
    declared_target = params.get("target_account_id")
    if source_id and declared_source and source_id != declared_source:
        raise ShareError(
            f"the source identity is account {source_id}, not source_account_id "
            f"{declared_source}; nothing was shared"
        )
    if declared_target and source_id == declared_target:
        raise ShareError(f"target_account_id {declared_target} is the source account itself")
    if target_id is not None and target_id != declared_target:
        raise ShareError(
            f"target_role_arn is a role of account {target_id}, not of target_account_id "
            f"{declared_target}; nothing was shared"
        )


def assume(base: Account, params: Mapping[str, Any], option: str) -> Account:
    """Assume the role named by `option`; a denial says which role and what to check."""
    role_arn = params[option]
    try:
        return assume_role(base, role_arn, session_name(params), params.get("external_id"))
    except AwsError as error:
        if error.code != "AccessDenied":
            raise
        raise ShareError(
            f"the calling identity may not assume {option} {role_arn}: check the role's trust "
            f"policy (and its ExternalId condition) and the caller's sts:AssumeRole permission "
            f"({error})",
            error=error,
        ) from error


def connect_source(params: Mapping[str, Any], calls: CallLog) -> tuple[Account, Account]:
    """The calling identity and the source identity (the same one without a source role)."""
    base = caller(connection_from(params), calls)
    if params.get("source_role_arn"):
        source = assume(base, params, "source_role_arn")
    else:
        source = base
        if params.get("source_account_id"):
            identify(source)
    return base, source


def connect(params: Mapping[str, Any], calls: CallLog) -> tuple[Account, Account | None]:
    """The source identity and, when tags are copied, the target identity."""
    base, source = connect_source(params, calls)
    target = None
    if params["copy_tags"] and is_account_share(params):
        target = assume(base, params, "target_role_arn")

    refuse_wrong_accounts(source.account_id, target.account_id if target else None, params)
    return source, target


def is_account_share(params: Mapping[str, Any]) -> bool:
    """Whether the share is with one account, the only kind of target that can hold tags."""
    return params.get("target_account_id") is not None


def read_shared_with(
    source: Account, principal: str, images: list[SourceImage], workers: int
) -> tuple[set[str], dict[str, AwsError]]:
    """Which of `images` the principal may launch already, and the images that could not be read.

    An account or the public costs one listing whatever the number of images. AWS can
    filter DescribeImages by neither an organization nor an OU, so for those each image
    is read: one DescribeImageAttribute per image in `images`.
    """
    # Limitation: an organization or OU share reads every matching image on every run, since
    # no DescribeImages filter names an organization; see docs/sharing-options.md.
    kind = principal_kind(principal)
    if kind == ACCOUNT:
        return read_shared_image_ids(source, principal), {}
    if kind == EVERYONE:
        return read_public_image_ids(source), {}
    permissions, errors = read_launch_permissions(source, [i.image_id for i in images], workers)
    return {i for i, principals in permissions.items() if principal in principals}, errors


def read_plan(
    params: Mapping[str, Any],
    patterns: list[re.Pattern[str]],
    source: Account,
    target: Account | None,
    snapshot_keys: dict[str, str | None] | None = None,
) -> tuple[Plan, dict[str, AwsError]]:
    """List the images and compute the plan; the images whose permissions could not be read.

    Nothing is read per image, except launch permissions for an organization or OU share.
    The KMS keys of the snapshots it reads are added to `snapshot_keys`, when given.
    """
    principal = target_principal(params) or ""
    images = read_source_images(source, patterns)
    if not images:
        return build_plan([], set(), {} if target else None, principal), {}

    # Without a declared or assumed identity, the owner of the images is the source.
    source_id = source.account_id or images[0].owner_id
    refuse_wrong_accounts(source_id, None, params)
    candidates = [i for i in images if i.state == SHAREABLE_STATE]
    shared, unreadable = read_shared_with(source, principal, candidates, params["workers"])
    # Only images about to be shared are checked, so a run with nothing to do costs no more.
    encrypted = [
        i for i in candidates if i.encrypted and i.image_id not in shared | set(unreadable)
    ]
    keys = read_snapshot_keys(source, encrypted) if encrypted else {}
    managed_key = read_managed_key_images(source, encrypted, keys) if encrypted else set()
    if snapshot_keys is not None:
        snapshot_keys.update(keys)
    target_tags = read_target_tags(target, source_id) if target else None
    policy = tag_policy(params)
    plan = build_plan(
        images,
        shared,
        target_tags,
        principal,
        managed_key,
        partial(plan_image_tags, policy) if policy != DEFAULT_POLICY else copy_source_tags,
    )
    return skip_unreadable(plan, unreadable), unreadable


def skip_unreadable(plan: Plan, unreadable: Mapping[str, AwsError]) -> Plan:
    """The plan with no action on images whose launch permissions could not be read."""
    if not unreadable:
        return plan
    reason = "its launch permissions could not be read"
    images = tuple(
        p._replace(skip_reason=reason, tags_to_write={}, tags_to_delete=())
        if p.image.image_id in unreadable
        else p
        for p in plan.images
    )
    return Plan(plan.principal, plan.copy_tags, images)


def read_access(
    params: Mapping[str, Any],
    source: Account,
    plan: Plan,
    snapshot_keys: dict[str, str | None],
) -> AccessPlan:
    """The snapshot permissions and KMS grants the shared images need; no call with both off.

    Without share_kms_keys, only the keys read_plan already read (those of images about
    to be shared) are reported, so that the option costs nothing when it is off.
    """
    # Snapshot permissions and grants go to accounts only (check_options refuses them for
    # other targets); the keys an organization's members may be unable to use are reported.
    target_account_id = target_principal(params) or ""
    kept = [p.image for p in plan.images if p.skip_reason is None]
    source_id = source.account_id or (kept[0].owner_id if kept else "")
    snapshots = {}
    if params.get("share_snapshots") and kept:
        permitted = read_permitted_snapshot_ids(source, target_account_id)
        snapshots = plan_snapshots(kept, permitted)

    encrypted = [i for i in kept if i.encrypted]
    unread = [i for i in encrypted if any(s not in snapshot_keys for s in i.encrypted_snapshot_ids)]
    if params.get("share_kms_keys") and unread:
        snapshot_keys.update(read_snapshot_keys(source, unread))
    key_users = keys_of_images(encrypted, snapshot_keys)
    granted = set()
    if params.get("share_kms_keys"):
        own_keys = [k for k in key_users if account_from_arn(k) in ("", source_id)]
        granted = read_granted_keys(source, own_keys, target_account_id)
    keys = plan_keys(key_users, source_id, granted, bool(params.get("share_kms_keys")))
    return AccessPlan(target_account_id, snapshots, keys)


def merge_access(result: dict[str, Any], access: Mapping[str, Any]) -> None:
    """Add the snapshot and key results of a share to its image results."""
    result["changed"] = result["changed"] or access["changed"]
    result["failures"].extend(access["failures"])
    result["plan"].extend(access["plan"])
    if "diff" in result:
        result["diff"].extend(access["diff"])
    for key, value in access.items():
        result.setdefault(key, value)


def tag_policy(params: Mapping[str, Any]) -> TagPolicy:
    """The tag options of the module as a `TagPolicy`."""
    include = params.get("tag_include")
    return TagPolicy(
        include=("*",) if include is None else tuple(include),
        exclude=tuple(params.get("tag_exclude") or ()),
        # A number is written as its text; other non-text values are refused beforehand.
        extra={k: str(v) for k, v in (params.get("extra_tags") or {}).items()},
        prune=bool(params.get("prune_tags")),
    )


def image_entry(image_plan: ImagePlan, done: list[str], error: AwsError | None) -> dict[str, Any]:
    """One image as returned: what was planned and done; reasons and errors only when there."""
    image = image_plan.image
    entry: dict[str, Any] = {
        "image_id": image.image_id,
        "name": image.name,
        "state": image.state,
        "encrypted": image.encrypted,
        "launch_permission_before": image_plan.shared_before,
        "actions": image_plan.actions,
        "done": done,
        "tags": image_plan.tags_to_write,
    }
    if image_plan.omitted_tags:
        entry["tags_not_written"] = [o.as_dict() for o in image_plan.omitted_tags]
    if image_plan.skip_reason is not None:
        entry["skip_reason"] = image_plan.skip_reason
    if error is not None:
        entry["error"] = error.as_dict()
    return entry


def gone_reason(error: AwsError) -> str:
    """Why an image that was deregistered while the share ran is skipped."""
    return f"deregistered during the run ({error.operation}: {error.code})"


def report(plan: Plan, outcome: Outcome, check_mode: bool, diff: bool) -> dict[str, Any]:
    """What the module returns: the plan, what was done (or would be), and the failures.

    Over DETAIL_LIMIT matched images, `images` holds only the images skipped, failed or with
    tags not written, `plan` only the actions that `shared`, `tagged` and `untagged` do not
    report, and the diff is one summary.
    """
    detailed = len(plan.images) <= DETAIL_LIMIT
    images = []
    skipped = []
    shared = []
    tagged = {}
    untagged = {}
    diffs = []
    for image_plan in plan.images:
        image = image_plan.image
        done = image_plan.actions if check_mode else outcome.done.get(image.image_id, [])
        if SHARE in done:
            shared.append(image.image_id)
        if TAG in done:
            tagged[image.image_id] = image_plan.tags_to_write
        if UNTAG in done:
            untagged[image.image_id] = list(image_plan.tags_to_delete)
        if diff and done and detailed:
            diffs.append(image_diff(image_plan, done, plan.copy_tags))

        error = outcome.errors.get(image.image_id)
        gone = outcome.gone.get(image.image_id)
        reason = gone_reason(gone) if gone is not None else image_plan.skip_reason
        if reason is not None:
            # Not `skipped`: Ansible reads a truthy `skipped` in a result as "the task was skipped".
            skipped.append(
                {
                    "image_id": image.image_id,
                    "name": image.name,
                    "state": image.state,
                    "reason": reason,
                }
            )
        if detailed or reason is not None or error is not None or image_plan.omitted_tags:
            entry = image_entry(image_plan, [] if check_mode else done, error)
            if gone is not None:
                entry["skip_reason"] = reason
            images.append(entry)

    names = {
        p.image.image_id: p.image.name for p in plan.images if p.image.image_id in outcome.errors
    }
    result: dict[str, Any] = {
        "changed": bool(shared or tagged or untagged),
        "shared": shared,
        "tagged": tagged,
        "untagged": untagged,
        "skipped_images": skipped,
        "image_count": len(plan.images),
        "images": images,
        "failures": [
            {"image_id": image_id, "name": names.get(image_id, ""), **error.as_dict()}
            for image_id, error in sorted(outcome.errors.items())
        ],
        "plan": plan.actions(),
    }
    if not detailed:
        # The actions reported as done (or, in check mode, as would be) are not repeated.
        reported = {SHARE: set(shared), TAG: tagged, UNTAG: untagged}
        result["plan"] = [
            action
            for action in result["plan"]
            if action["image_id"] not in reported.get(action["action"], ())
        ]
    if diff:
        result["diff"] = diffs
        if not detailed and result["changed"]:
            result["diff"] = [summary_diff(plan, shared, tagged, untagged)]
    return result


def unwritten_tag_warnings(result: Mapping[str, Any], target_account_id: str) -> list[str]:
    """One warning per image whose tags could not all be written within AWS limits."""
    return [
        f"{image['image_id']} ({image['name']}): not written in {target_account_id}: "
        + "; ".join(f"tag {o['key'][:40]!r}: {o['reason']}" for o in image["tags_not_written"])
        for image in result["images"]
        if image.get("tags_not_written")
    ]


def skip_warnings(result: Mapping[str, Any]) -> list[str]:
    """One warning per available image left unshared for a reason a person must act on.

    Images skipped for their state (pending, failed) are routine and only counted.
    """
    return [
        f"{image['image_id']} ({image['name']}): skipped: {image['reason']}"
        for image in result["skipped_images"]
        if image["state"] == "available"
    ]


def failure_summary(result: Mapping[str, Any]) -> str:
    """One line for a failed run: how many images failed, and how."""
    failures = result["failures"]
    # Not from `images` alone, which lists only some images of a large share; its `plan` then
    # leaves out what shared, tagged and untagged report.
    attempted = len(
        {action["image_id"] for action in result["plan"]}.union(
            result["shared"], result["tagged"], result["untagged"]
        )
    )
    details = "; ".join(f"{f['image_id']} {f['operation']} {f['code']}" for f in failures)
    return f"{len(failures)} of {attempted} images failed: {details}"


def reconcile(params: Mapping[str, Any], check_mode: bool, diff: bool) -> dict[str, Any]:
    """Run one share; raise `ShareError` when the share as a whole cannot go on."""
    patterns = check_options(params)
    check_region_known(params["region"])
    calls = CallLog()
    snapshot_keys: dict[str, str | None] = {}
    try:
        source, target = connect(params, calls)
        plan, unreadable = read_plan(params, patterns, source, target, snapshot_keys)
        access = read_access(params, source, plan, snapshot_keys)
    except AwsError as error:
        raise ShareError(
            f"cannot share images with {target_principal(params)} in {params['region']}: "
            f"{explain(error)}",
            calls.as_dict(),
            error,
        ) from error
    except ShareError as error:
        raise ShareError(str(error), calls.as_dict(), error.error) from error
    except RegexTooSlow as error:
        raise ShareError(str(error), calls.as_dict()) from error

    outcome = Outcome()
    access_outcome = AccessOutcome()
    if not check_mode:
        outcome = apply_plan(plan, source, target, params["workers"])
        not_shared = [
            p.image.image_id
            for p in plan.images
            if p.share and SHARE not in outcome.done.get(p.image.image_id, [])
        ]
        access_outcome = apply_access(access, source, params["workers"], not_shared)
    # A failed read is a failure of that image in check mode too: it was a real call.
    for image_id, error in unreadable.items():
        outcome.record(image_id, SHARE, error)

    result = report(plan, outcome, check_mode, diff)
    merge_access(result, access_report(access, access_outcome, check_mode, diff))
    if params["copy_tags"] and not is_account_share(params):
        result["tags_not_copied"] = TAGS_NEED_AN_ACCOUNT
    result["calls"] = calls.as_dict()
    return result
