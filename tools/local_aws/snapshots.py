"""Cross-account snapshot permissions and KMS grants for moto.

moto stores ``createVolumePermission`` on a snapshot but answers DescribeSnapshots
from the caller's own snapshots only, ignores ``OwnerIds``,
``RestorableByUserIds`` and paging, and reads ModifySnapshotAttribute only in its
old ``OperationType``/``UserIds`` form. Nothing links a snapshot's permission or a
KMS key to what another account may do with a shared image. This module hooks
moto so that:

- DescribeSnapshots shows the caller its own snapshots and those another account
  gave it ``createVolumePermission`` on (or made public), scoped by
  ``SnapshotIds``, ``OwnerIds``, ``RestorableByUserIds`` and filters, and paged.
- Only a snapshot's owner may read or change its permissions.
- CopyImage of another account's image needs ``createVolumePermission`` on each of
  its snapshots and, for a snapshot encrypted with a key of another account, a KMS
  grant on that key for the caller's account; RunInstances needs the grant.
- CreateGrant with a ``Name`` and the same parameters returns the existing grant,
  and refuses operations a grant cannot hold.

``install()`` patches moto in place and must run after ``sharing.install()``.
"""

from __future__ import annotations

from typing import Any
from typing import Callable

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.core.responses import EmptyResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.exceptions import InvalidSnapshotIdError
from moto.ec2.models import ec2_backends
from moto.ec2.models.amis import AmiBackend
from moto.ec2.models.elastic_block_store import Snapshot
from moto.ec2.models.instances import InstanceBackend
from moto.ec2.responses.elastic_block_store import ElasticBlockStore
from moto.ec2.utils import generic_filter
from moto.kms.models import KmsBackend
from moto.kms.models import kms_backends

from tools.local_aws.sharing import _as_seen_by
from tools.local_aws.sharing import _peer_backends
from tools.local_aws.sharing import find_image
from tools.local_aws.sharing import paged

PUBLIC = "all"
# What a grant must allow before another account may launch or copy an image encrypted
# with the key: AWS's EBS documentation on shared encrypted AMIs (docs/local-aws.md).
OPERATIONS_TO_USE_A_SHARED_KEY = frozenset(
    {"Decrypt", "DescribeKey", "CreateGrant", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom"}
)
# The operations the KMS API reference allows in a grant.
GRANT_OPERATIONS = frozenset(
    {
        "Decrypt",
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "ReEncryptFrom",
        "ReEncryptTo",
        "Sign",
        "Verify",
        "GetPublicKey",
        "CreateGrant",
        "RetireGrant",
        "DescribeKey",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "GenerateMac",
        "VerifyMac",
        "DeriveSharedSecret",
    }
)

_ORIGINALS: dict[str, Callable[..., Any]] = {}


class SnapshotNotOwnedError(EC2ClientError):
    """A caller that may restore a snapshot, but does not own it, tried to manage it."""

    def __init__(self, snapshot_id: str) -> None:
        super().__init__("AuthFailure", f"Not authorized for snapshot:{snapshot_id}")


class SnapshotNotRestorableError(EC2ClientError):
    """CopyImage of a shared image whose snapshot the caller has no createVolumePermission on."""

    def __init__(self, image_id: str, snapshot_id: str) -> None:
        super().__init__(
            "AuthFailure",
            f"Not authorized for snapshot:{snapshot_id} of image:{image_id}; its owner must "
            "grant createVolumePermission",
        )


class KeyNotUsableError(EC2ClientError):
    """A shared encrypted image used by an account that has no grant on its key."""

    def __init__(self, image_id: str, key_arn: str) -> None:
        super().__init__(
            "AuthFailure",
            f"Not authorized to use the KMS key {key_arn} of image:{image_id}; its owner must "
            "grant this account Decrypt, DescribeKey, CreateGrant, "
            "GenerateDataKeyWithoutPlaintext and ReEncryptFrom",
        )


def restorable_by(snapshot: Snapshot, account_id: str) -> bool:
    """Whether the account may create volumes from (or copy) another account's snapshot."""
    return (
        account_id in snapshot.create_volume_permission_userids
        or PUBLIC in snapshot.create_volume_permission_groups
    )


def visible_snapshots(backend: Any) -> list[Snapshot]:
    """The caller's own snapshots and those of other accounts it may restore."""
    snapshots = list(backend.snapshots.values())
    for peer in _peer_backends(backend):
        snapshots.extend(
            _as_seen_by(s, backend)
            for s in list(peer.snapshots.values())
            if restorable_by(s, backend.account_id)
        )
    return snapshots


def describe_snapshots_response(self: ElasticBlockStore) -> ActionResult:
    """DescribeSnapshots over what the caller may see, scoped and paged as AWS does."""
    backend = self.ec2_backend
    caller = backend.account_id
    snapshot_ids = self._get_param("SnapshotIds", [])
    owners = self._get_param("OwnerIds", [])
    restorable = self._get_param("RestorableByUserIds", [])
    max_results = self._get_param("MaxResults")
    next_token = self._get_param("NextToken")
    if snapshot_ids and max_results is not None:
        raise EC2ClientError(
            "InvalidParameterCombination",
            "The parameter snapshotIdSet cannot be used with the parameter maxResults",
        )

    snapshots = visible_snapshots(backend)
    if snapshot_ids:
        # Unlike DescribeImages, an ID the caller cannot see is an error, not left out.
        found = {s.id for s in snapshots}
        if any(snapshot_id not in found for snapshot_id in snapshot_ids):
            raise InvalidSnapshotIdError()
        snapshots = [s for s in snapshots if s.id in set(snapshot_ids)]
    if owners:
        wanted = {caller if owner == "self" else owner for owner in owners}
        snapshots = [s for s in snapshots if s.owner_id in wanted]
    if restorable:
        users = {caller if user == "self" else user for user in restorable}
        snapshots = [
            s
            for s in snapshots
            if users & s.create_volume_permission_userids
            or (PUBLIC in users and PUBLIC in s.create_volume_permission_groups)
        ]
    filters = self._filters_from_querystring()
    if filters:
        snapshots = generic_filter(filters, snapshots)
    snapshots.sort(key=lambda s: s.id)

    if max_results is None and next_token is None:
        return ActionResult({"Snapshots": snapshots})
    return ActionResult(paged("Snapshots", snapshots, max_results, next_token))


def _find_owned_snapshot(backend: Any, snapshot_id: str) -> Snapshot:
    own = backend.snapshots.get(snapshot_id)
    if own is not None:
        return own
    for peer in _peer_backends(backend):
        theirs = peer.snapshots.get(snapshot_id)
        if theirs is not None and restorable_by(theirs, backend.account_id):
            raise SnapshotNotOwnedError(snapshot_id)
    raise InvalidSnapshotIdError()


def describe_snapshot_attribute_response(self: ElasticBlockStore) -> ActionResult:
    """DescribeSnapshotAttribute, allowed to the snapshot's owner only."""
    _find_owned_snapshot(self.ec2_backend, self._get_param("SnapshotId"))
    return _ORIGINALS["describe_snapshot_attribute"](self)


def modify_snapshot_attribute_response(self: ElasticBlockStore) -> EmptyResult:
    """ModifySnapshotAttribute by the owner, in both request forms AWS accepts.

    moto reads only ``OperationType`` with ``UserId.N``/``UserGroup.N``; SDKs also send
    ``CreateVolumePermission.Add.N`` and ``.Remove.N`` entries, which moto ignored.
    """
    snapshot_id = self._get_param("SnapshotId")
    self.error_on_dryrun()
    snapshot = _find_owned_snapshot(self.ec2_backend, snapshot_id)

    changes = self._get_param("CreateVolumePermission") or {}
    operation = self._get_param("OperationType")
    if operation in ("add", "remove"):
        entries = [{"UserId": u} for u in self._get_param("UserIds", [])]
        entries += [{"Group": g} for g in self._get_param("GroupNames", [])]
        changes = {operation.capitalize(): entries}
    for verb, entries in changes.items():
        for entry in entries or []:
            group = entry.get("Group")
            if group is not None and group != PUBLIC:
                raise EC2ClientError(
                    "InvalidParameterValue", f"Value ({group}) for parameter group is invalid."
                )
            users = snapshot.create_volume_permission_userids
            groups = snapshot.create_volume_permission_groups
            target, value = (groups, group) if group is not None else (users, entry.get("UserId"))
            if value is None:
                continue
            if verb == "Add":
                target.add(value)
            elif verb == "Remove":
                target.discard(value)
    return EmptyResult()


def _key_of(key_arn: str) -> Any | None:
    """The moto key an ARN names, in its own account and region, or None."""
    parts = key_arn.split(":")
    if len(parts) < 6 or not parts[5].startswith("key/"):
        return None
    region, account_id, key_id = parts[3], parts[4], parts[5][len("key/") :]
    backend = dict.get(kms_backends.get(account_id, {}), region)
    return None if backend is None else backend.keys.get(key_id)


def may_use_key(key_arn: str, account_id: str) -> bool:
    """Whether the account may use the key: its own, or a grant to the account allows it."""
    key = _key_of(key_arn)
    if key is None or key.account_id == account_id:
        return True
    principals = {f"arn:aws:iam::{account_id}:root"}
    return any(
        (grant.grantee_principal in principals or f"::{account_id}:" in grant.grantee_principal)
        and set(grant.operations or []) >= OPERATIONS_TO_USE_A_SHARED_KEY
        for grant in key.grants.values()
    )


def _check_copy_of(backend: Any, image_id: str) -> None:
    """Refuse to copy another account's image without what AWS requires for it."""
    image = find_image(backend, image_id)
    if image.owner_id == backend.account_id:
        return
    snapshot = image.ebs_snapshot
    if not restorable_by(snapshot, backend.account_id):
        raise SnapshotNotRestorableError(image_id, snapshot.id)
    if snapshot.encrypted and not may_use_key(snapshot.kms_key_id or "", backend.account_id):
        raise KeyNotUsableError(image_id, snapshot.kms_key_id)


def copy_image(
    self: Any,
    source_image_id: str,
    source_region: str,
    name: str | None = None,
    description: str | None = None,
) -> Any:
    """CopyImage, checked against the snapshot permissions and key grants of a shared image."""
    _check_copy_of(ec2_backends[self.account_id][source_region], source_image_id)
    return _ORIGINALS["copy_image"](self, source_image_id, source_region, name, description)


def run_instances(self: Any, image_id: str, *arguments: Any, **options: Any) -> Any:
    """RunInstances of a shared encrypted image needs a grant on its key."""
    try:
        image = find_image(self, image_id) if image_id else None
    except EC2ClientError:
        image = None  # An unknown or unshared image is sharing.py's to refuse.
    if image is not None and image.owner_id != self.account_id:
        snapshot = image.ebs_snapshot
        if snapshot.encrypted and not may_use_key(snapshot.kms_key_id or "", self.account_id):
            raise KeyNotUsableError(image_id, snapshot.kms_key_id)
    return _ORIGINALS["run_instances"](self, image_id, *arguments, **options)


def create_grant(
    self: KmsBackend,
    key_id: str,
    grantee_principal: str,
    operations: list[str],
    name: str,
    constraints: dict[str, Any],
    retiring_principal: str,
) -> tuple[str, str]:
    """CreateGrant: a named grant with the same parameters is returned again, not duplicated."""
    unknown = sorted(set(operations or []) - GRANT_OPERATIONS)
    if not operations or unknown:
        raise JsonRESTError(
            "ValidationException", f"1 validation error detected: invalid operations {unknown}"
        )
    key = self.describe_key(key_id)
    if name:
        for grant in key.grants.values():
            if (
                grant.name == name
                and grant.grantee_principal == grantee_principal
                and sorted(grant.operations) == sorted(operations)
                and grant.constraints == constraints
                and grant.retiring_principal == retiring_principal
            ):
                return grant.id, grant.token
    return _ORIGINALS["create_grant"](
        self, key_id, grantee_principal, operations, name, constraints, retiring_principal
    )


def install() -> None:
    """Hook moto's snapshot, CopyImage, RunInstances and grant handling; idempotent."""
    if _ORIGINALS:
        return
    _ORIGINALS["describe_snapshot_attribute"] = ElasticBlockStore.describe_snapshot_attribute
    _ORIGINALS["copy_image"] = AmiBackend.copy_image
    _ORIGINALS["run_instances"] = InstanceBackend.run_instances
    _ORIGINALS["create_grant"] = KmsBackend.create_grant

    ElasticBlockStore.describe_snapshots = describe_snapshots_response  # type: ignore[method-assign]
    ElasticBlockStore.describe_snapshot_attribute = describe_snapshot_attribute_response  # type: ignore[method-assign]
    ElasticBlockStore.modify_snapshot_attribute = modify_snapshot_attribute_response  # type: ignore[method-assign,assignment]
    AmiBackend.copy_image = copy_image  # type: ignore[method-assign]
    InstanceBackend.run_instances = run_instances  # type: ignore[method-assign]
    KmsBackend.create_grant = create_grant  # type: ignore[method-assign]
