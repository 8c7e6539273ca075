# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the resource_sharing.aws project
"""Taking launch permissions back: one target's (`state: absent`), or every stale one of a source.

A launch permission is named here by its principal as one string: a 12-digit account ID,
`all` for public, or an organization or OU ARN. Plans are pure data; reads and writes go
through `Account` like every other AWS call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import NamedTuple

from ansible_collections.resource_sharing.aws.plugins.module_utils._access import UNSHARE_SNAPSHOT
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import AccessOutcome
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import AccessPlan
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import access_report
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import apply_access
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import plan_snapshots
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import (
    read_permitted_snapshot_ids,
)
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import Account
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import AwsError
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import CallLog
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import map_bounded
from ansible_collections.resource_sharing.aws.plugins.module_utils._images import read_source_images
from ansible_collections.resource_sharing.aws.plugins.module_utils._permissions import ACCOUNT_ID
from ansible_collections.resource_sharing.aws.plugins.module_utils._permissions import PUBLIC
from ansible_collections.resource_sharing.aws.plugins.module_utils._permissions import (
    management_account,
)
from ansible_collections.resource_sharing.aws.plugins.module_utils._permissions import (
    permission_for,
)
from ansible_collections.resource_sharing.aws.plugins.module_utils._permissions import (
    principal_problem,
)
from ansible_collections.resource_sharing.aws.plugins.module_utils._permissions import (
    read_launch_permissions,
)
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import RegexTooSlow
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import SourceImage
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import name_matches
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import REGION
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import ShareError
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import check_options
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import check_region_known
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import connect_source
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import explain
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import merge_access
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import read_shared_with
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import (
    refuse_wrong_accounts,
)
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import target_principal

UNSHARE = "unshare"


class Removal(NamedTuple):
    """One principal whose launch permission on one image is taken back, and why."""

    image: SourceImage
    principal: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        """The removal as returned data."""
        return {
            "image_id": self.image.image_id,
            "name": self.image.name,
            "principal": self.principal,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class RevokePlan:
    """The permissions to take back, and those left that no account file declares."""

    removals: tuple[Removal, ...]
    undeclared: tuple[Removal, ...] = ()
    permissions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def by_image(self) -> dict[str, list[Removal]]:
        """Removals grouped per image ID, in plan order: one ModifyImageAttribute each."""
        grouped: dict[str, list[Removal]] = {}
        for removal in self.removals:
            grouped.setdefault(removal.image.image_id, []).append(removal)
        return grouped

    def actions(self) -> list[dict[str, str]]:
        """The plan as a flat list of actions."""
        return [{"action": UNSHARE, **removal.as_dict()} for removal in self.removals]


def plan_unshare(
    images: Iterable[SourceImage], shared_image_ids: set[str], principal: str
) -> RevokePlan:
    """`state: absent`: take the principal's permission off every matched image that has it."""
    removals = [
        Removal(image, principal, "state is absent for this share")
        for image in sorted(images, key=lambda i: (i.name, i.image_id))
        if image.image_id in shared_image_ids
    ]
    return RevokePlan(tuple(removals))


def revocation_reason(
    principal: str,
    name: str,
    declared: Mapping[str, list[re.Pattern[str]]],
    known_accounts: set[str],
) -> tuple[str | None, bool]:
    """Why the principal's permission on an image of this name is stale, and if it is declared.

    Returns (None, True) for a permission an entry still wants, (reason, True) for one the
    files no longer want, and (reason, False) for a principal no account file declares.
    Public access is the source's own decision, so without an entry allowing it, it is stale;
    an organization or OU counts as declared when its management account has an account file.
    """
    if principal in declared:
        if any(name_matches(pattern, name) for pattern in declared[principal]):
            return None, True
        return "the name matches no sharing entry for this target in this region", True
    if principal in known_accounts:
        return "no sharing entry of this source names this account in this region", True
    if principal == PUBLIC:
        return "no sharing entry of this source allows public sharing in this region", True
    if management_account(principal) in known_accounts:
        return (
            "no sharing entry of this source names this organization or OU in this region",
            True,
        )
    return "no account file declares this principal", False


def plan_revocations(
    images: Iterable[SourceImage],
    permissions: Mapping[str, Iterable[str]],
    declared: Mapping[str, list[re.Pattern[str]]],
    known_accounts: set[str],
    revoke_undeclared: bool,
) -> RevokePlan:
    """Every permission of the source's images that the account files no longer want.

    `permissions` maps an image ID to its principals; `declared` maps a principal to the
    name patterns of its sharing entries in this region.
    """
    removals = []
    undeclared = []
    for image in sorted(images, key=lambda i: (i.name, i.image_id)):
        for principal in sorted(permissions.get(image.image_id, ())):
            reason, is_declared = revocation_reason(principal, image.name, declared, known_accounts)
            if reason is None:
                continue
            removal = Removal(image, principal, reason)
            if not is_declared:
                undeclared.append(removal)
            if is_declared or revoke_undeclared:
                removals.append(removal)
    kept = {i: tuple(sorted(p)) for i, p in permissions.items()}
    return RevokePlan(tuple(removals), tuple(undeclared), kept)


def remove_permissions(source: Account, image_id: str, principals: list[str]) -> AwsError | None:
    """Take these principals' launch permissions off one image in one call."""
    return source.change(
        "ec2",
        "modify_image_attribute",
        ImageId=image_id,
        LaunchPermission={"Remove": [permission_for(p) for p in principals]},
    )


def apply_revocations(plan: RevokePlan, source: Account, workers: int) -> dict[str, AwsError]:
    """Carry out the removals, one call per image; the errors by image ID."""
    grouped = plan.by_image()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        answers = map_bounded(
            pool,
            workers,
            lambda image_id: remove_permissions(
                source, image_id, [r.principal for r in grouped[image_id]]
            ),
            list(grouped),
        )
        return {image_id: error for image_id, error in zip(grouped, answers) if error is not None}


def revoke_diff(plan: RevokePlan, errors: Mapping[str, AwsError]) -> list[dict[str, Any]]:
    """Each changed image's launch permissions before and after, for Ansible's --diff."""
    diffs = []
    for image_id, removals in plan.by_image().items():
        if image_id in errors:
            continue
        header = f"{image_id} ({removals[0].image.name})"
        if image_id in plan.permissions:
            before: dict[str, Any] = {"launch_permissions": list(plan.permissions[image_id])}
            gone = {r.principal for r in removals}
            after = {"launch_permissions": [p for p in plan.permissions[image_id] if p not in gone]}
        else:
            # `state: absent` reads only whether its one principal has the permission.
            before, after = {"launch_permission": True}, {"launch_permission": False}
        diffs.append(
            {"before_header": header, "after_header": header, "before": before, "after": after}
        )
    return diffs


def revoke_report(
    plan: RevokePlan, errors: Mapping[str, AwsError], check_mode: bool, diff: bool
) -> dict[str, Any]:
    """What a revocation returns: what was (or would be) taken back, what is left, failures."""
    done = [r.as_dict() for r in plan.removals if r.image.image_id not in errors]
    result: dict[str, Any] = {
        "changed": bool(done),
        "revoked": done,
        "undeclared": [r.as_dict() for r in plan.undeclared],
        "failures": [{"image_id": i, **e.as_dict()} for i, e in sorted(errors.items())],
        "plan": plan.actions(),
    }
    if check_mode:
        result["revoked"] = [r.as_dict() for r in plan.removals]
        result["changed"] = bool(plan.removals)
    if diff:
        result["diff"] = revoke_diff(plan, {} if check_mode else errors)
    return result


def unshare(params: Mapping[str, Any], check_mode: bool, diff: bool) -> dict[str, Any]:
    """`ami_share` with `state: absent`: the target's permission off every matching image."""
    patterns = check_options({**params, "copy_tags": False})
    target = target_principal(params) or ""
    calls = CallLog()
    with share_errors(f"cannot unshare images from {target} in {params['region']}", calls):
        source = connect_source(params, calls)[1]
        refuse_wrong_accounts(source.account_id, None, params)
        images = read_source_images(source, patterns)
        shared, unreadable = (
            read_shared_with(source, target, images, params["workers"]) if images else (set(), {})
        )
        # Every matching image, not only those still shared: a run stopped between the
        # launch permission and the snapshots leaves them to this one.
        permitted = set()
        if params.get("share_snapshots") and images:
            permitted = read_permitted_snapshot_ids(source, target)

    plan = plan_unshare(images, shared, target)
    access = AccessPlan(
        target, plan_snapshots(images, permitted, remove=True), snapshot_action=UNSHARE_SNAPSHOT
    )
    errors = dict(unreadable)
    access_outcome = AccessOutcome()
    if not check_mode:
        errors.update(apply_revocations(plan, source, params["workers"]))
        access_outcome = apply_access(access, source, params["workers"])

    result = revoke_report(plan, errors, check_mode, diff)
    merge_access(result, access_report(access, access_outcome, check_mode, diff))
    for key in ("kms_grants", "kms_keys"):
        del result[key]
    result.update(
        unshared=[r["image_id"] for r in result.pop("revoked")],
        shared=[],
        tagged={},
        untagged={},
        skipped_images=[],
        images=[unshare_entry(i, i.image_id in shared, check_mode, errors) for i in images],
        calls=calls.as_dict(),
    )
    del result["undeclared"]
    return result


def unshare_entry(
    image: SourceImage, shared: bool, check_mode: bool, errors: Mapping[str, AwsError]
) -> dict[str, Any]:
    """One matched image as `state: absent` returns it."""
    entry: dict[str, Any] = {
        "image_id": image.image_id,
        "name": image.name,
        "state": image.state,
        "encrypted": image.encrypted,
        "launch_permission_before": shared,
        "actions": [UNSHARE] if shared else [],
        "done": [UNSHARE] if shared and not check_mode and image.image_id not in errors else [],
        "tags": {},
    }
    if image.image_id in errors:
        entry["error"] = errors[image.image_id].as_dict()
    return entry


@contextmanager
def share_errors(what: str, calls: CallLog) -> Iterator[None]:
    """Turn an AWS or option error of the read phase into one `ShareError` with the calls."""
    try:
        yield
    except AwsError as error:
        raise ShareError(f"{what}: {explain(error)}", calls.as_dict(), error) from error
    except ShareError as error:
        raise ShareError(str(error), calls.as_dict(), error.error) from error
    except RegexTooSlow as error:
        raise ShareError(str(error), calls.as_dict()) from error


def check_revoke_options(params: Mapping[str, Any]) -> dict[str, list[re.Pattern[str]]]:
    """Refuse a bad declaration before any AWS call; the name patterns per principal."""
    problems = []
    declared: dict[str, list[re.Pattern[str]]] = {}
    for index, share in enumerate(params["shares"]):
        problem = principal_problem(share["target"])
        if problem:
            problems.append(f"shares[{index}].target: {problem}")
        if not share["regex"]:
            problems.append(f"shares[{index}].regex must not be empty")
            continue
        try:
            declared.setdefault(share["target"], []).append(re.compile(share["regex"]))
        except re.error as exc:
            problems.append(f"shares[{index}].regex {share['regex']!r} is not valid: {exc}")
    for account in params["known_accounts"]:
        if not ACCOUNT_ID.match(account):
            problems.append(f"known_accounts: {account!r} is not a 12-digit account ID string")
    if params.get("source_account_id") and not ACCOUNT_ID.match(params["source_account_id"]):
        problems.append("source_account_id must be a 12-digit account ID string")
    if not REGION.match(params["region"] or ""):
        problems.append(f"region {params['region']!r} is not an AWS region name")
    endpoint = params.get("endpoint_url")
    if endpoint is not None and not re.match(r"^https?://[^/\s]+", endpoint):
        problems.append(f"endpoint_url must be an http(s) URL, got {endpoint!r}")
    for option in ("workers", "max_attempts", "connect_timeout", "read_timeout"):
        if params[option] <= 0:
            problems.append(f"{option} must be greater than 0, got {params[option]}")
    if problems:
        raise ShareError("; ".join(problems))
    check_region_known(params["region"])
    return declared


EVERY_NAME = re.compile("")


def revoke(params: Mapping[str, Any], check_mode: bool, diff: bool) -> dict[str, Any]:
    """`ami_revoke`: take back every permission of the source's images the files no longer want."""
    declared = check_revoke_options(params)
    calls = CallLog()
    with share_errors(f"cannot revoke stale shares in {params['region']}", calls):
        source = connect_source(params, calls)[1]
        images = read_source_images(source, EVERY_NAME)
        permissions, errors = read_launch_permissions(
            source, [i.image_id for i in images], params["workers"]
        )
    source_id = source.account_id or (images[0].owner_id if images else "")
    if params.get("source_account_id") and source_id and source_id != params["source_account_id"]:
        raise ShareError(
            f"the source identity is account {source_id}, not source_account_id "
            f"{params['source_account_id']}; nothing was revoked",
            calls.as_dict(),
        )

    known = set(params["known_accounts"])
    try:
        plan = plan_revocations(images, permissions, declared, known, params["revoke_undeclared"])
    except RegexTooSlow as error:
        raise ShareError(str(error), calls.as_dict()) from error
    access: list[AccessPlan] = []
    if params.get("share_snapshots"):
        with share_errors(f"cannot read snapshot permissions in {params['region']}", calls):
            access = plan_snapshot_revocations(source, plan, images)
    if not check_mode:
        errors.update(apply_revocations(plan, source, params["workers"]))

    result = revoke_report(plan, errors, check_mode, diff)
    result["snapshots_unshared"] = []
    for account_access in access:
        # An image whose launch permission stays (its removal failed) keeps its snapshots too.
        outcome = AccessOutcome()
        if not check_mode:
            outcome = apply_access(account_access, source, params["workers"], errors)
        merge_snapshot_revocations(result, account_access, outcome, check_mode, diff)
    result["images_scanned"] = len(images)
    result["calls"] = calls.as_dict()
    return result


def plan_snapshot_revocations(
    source: Account, plan: RevokePlan, images: Iterable[SourceImage]
) -> list[AccessPlan]:
    """Per account that loses a launch permission, its snapshot permissions to take back.

    One paged DescribeSnapshots per such account says which snapshots it may restore. A
    snapshot that also backs an image the account keeps is left alone: the account still
    needs it to copy that image.
    """
    losing: dict[str, list[SourceImage]] = {}
    for removal in plan.removals:
        if ACCOUNT_ID.match(removal.principal):
            losing.setdefault(removal.principal, []).append(removal.image)

    # Limitation: only accounts that lose a launch permission in this run are read, so a
    # snapshot permission whose removal failed is not found by later runs (`ami_share` with
    # `state: absent` and `share_snapshots` takes it back); reading every known account's
    # would cost a listing per account on every run.
    access = []
    for account, lost_images in sorted(losing.items()):
        permitted = read_permitted_snapshot_ids(source, account)
        lost_ids = {i.image_id for i in lost_images}
        kept = {
            snapshot_id
            for image in images
            if image.image_id not in lost_ids
            and account in plan.permissions.get(image.image_id, ())
            for snapshot_id in image.snapshot_ids
        }
        snapshots = plan_snapshots(lost_images, permitted - kept, remove=True)
        if snapshots:
            access.append(AccessPlan(account, snapshots, snapshot_action=UNSHARE_SNAPSHOT))
    return access


def merge_snapshot_revocations(
    result: dict[str, Any],
    access: AccessPlan,
    outcome: AccessOutcome,
    check_mode: bool,
    diff: bool,
) -> None:
    """Add one account's snapshot revocations to an `ami_revoke` result, the account named."""
    report = access_report(access, outcome, check_mode, diff)
    result["changed"] = result["changed"] or report["changed"]
    result["failures"].extend(report["failures"])
    result["plan"].extend(report["plan"])
    result["snapshots_unshared"].extend(
        {"account_id": access.target_account_id, "image_id": image_id, "snapshot_id": snapshot_id}
        for image_id, snapshot_ids in report["snapshots_unshared"].items()
        for snapshot_id in snapshot_ids
    )
    for image_diff in report.get("diff", []):
        header = f"{image_diff['before_header']} of {access.target_account_id}"
        image_diff.update(before_header=header, after_header=header)
        result["diff"].append(image_diff)
