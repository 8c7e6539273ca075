"""Load a seed file: accounts' images, tags and keys, created before the server answers.

The format is documented in docs/local-aws.md. Image IDs are derived from the
account, region and image name, so the same seed always gives the same IDs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import yaml

IMAGE_STATES = ("available", "pending", "failed")
AWS_MANAGED_EBS_KEY = "aws/ebs"
_ACCOUNT_ID = re.compile(r"^\d{12}$")
# A name that asks for a number, "{i}" or "{i:05d}", which only a count supplies.
_NUMBER_FIELD = re.compile(r"\{i(?:[:!][^}]*)?\}")
TOP_LEVEL_FIELDS = {"accounts", "organizations"}
ORGANIZATION_FIELDS = {"id", "management_account", "accounts", "organizational_units"}
OU_FIELDS = {"id", "accounts"}
# The ID shapes of the AWS Organizations API reference.
_ORGANIZATION_ID = re.compile(r"\Ao-[a-z0-9]{10,32}\Z")
_OU_ID = re.compile(r"\Aou-[0-9a-z]{4,32}-[0-9a-z]{8,32}\Z")
ACCOUNT_FIELDS = {"uid", "regions"}
REGION_FIELDS = {"images"}
IMAGE_FIELDS = {"name", "state", "description", "tags", "kms_key", "launch_permissions", "count"}


class SeedError(ValueError):
    """The seed file is not in the documented format; the message says where."""


@dataclass
class SeedImage:
    """One image to create, as read from the seed."""

    name: str
    state: str = "available"
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    kms_key: str | None = None
    launch_permissions: list[str] = field(default_factory=list)


def image_id_for(account_id: str, region: str, name: str) -> str:
    """The image ID a seeded image gets: stable for the same account, region and name."""
    digest = hashlib.sha256(f"{account_id}/{region}/{name}".encode()).hexdigest()
    return f"ami-{digest[:17]}"


def _text(value: Any, where: str) -> str:
    """A string field; YAML turns unquoted numbers and booleans into other types."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)) or value is None:
        # Not the converted value: YAML may have changed what was written (1.50, 0777).
        raise SeedError(
            f"{where}: expected a string; quote the value so that YAML keeps it as text"
        )
    raise SeedError(f"{where}: expected a string, got a {type(value).__name__}")


def _non_empty_text(value: Any, where: str) -> str:
    text = _text(value, where)
    if not text:
        raise SeedError(f"{where}: must not be empty")
    return text


def _refuse_unknown_fields(raw: dict[Any, Any], known: set[str], where: str) -> None:
    unknown = set(raw) - known
    if unknown:
        place = f"{where}: " if where else ""
        raise SeedError(
            f"{place}unknown field(s) {sorted(map(str, unknown))}; expected {sorted(known)}"
        )


def _read_tags(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SeedError(f"{where}: tags must be a mapping of key to value")
    tags = {}
    for key, value in raw.items():
        tags[_text(key, f"{where}: tag key")] = _text(value, f"{where}.{key}")
    return tags


def _read_launch_permissions(raw: Any, where: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise SeedError(f"{where}: launch_permissions must be a list")
    principals = []
    for principal in raw:
        if principal != "all" and not (isinstance(principal, str) and _ACCOUNT_ID.match(principal)):
            # An unquoted account ID is shown as written nowhere: YAML converted it.
            shown = repr(principal) if isinstance(principal, str) else "an unquoted number"
            raise SeedError(
                f"{where}: launch permission {shown} is neither 'all' nor a quoted "
                "12-digit account ID"
            )
        principals.append(principal)
    return principals


def _read_image(raw: Any, where: str) -> SeedImage:
    if not isinstance(raw, dict) or "name" not in raw:
        raise SeedError(f"{where}: an image needs at least a name")
    _refuse_unknown_fields(raw, IMAGE_FIELDS, where)
    state = raw.get("state", "available")
    if state not in IMAGE_STATES:
        raise SeedError(f"{where}: state must be one of {', '.join(IMAGE_STATES)}")
    kms_key = raw.get("kms_key")
    name = _non_empty_text(raw["name"], f"{where}.name")
    if "count" not in raw and _NUMBER_FIELD.search(name):
        raise SeedError(f"{where}.name: {{i}} is numbered by count, and this entry has no count")
    return SeedImage(
        name=name,
        state=state,
        description=_text(raw.get("description", ""), f"{where}.description"),
        tags=_read_tags(raw.get("tags"), f"{where}.tags"),
        kms_key=None if kms_key is None else _non_empty_text(kms_key, f"{where}.kms_key"),
        launch_permissions=_read_launch_permissions(
            raw.get("launch_permissions"), f"{where}.launch_permissions"
        ),
    )


def _expand(raw: Any, where: str) -> list[SeedImage]:
    """One image entry, or ``count`` of them when it is a generator for benchmarks."""
    image = _read_image(raw, where)
    count = raw.get("count")
    if count is None:
        return [image]
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise SeedError(f"{where}.count: expected a non-negative integer")
    try:
        names = [image.name.format(i=i) for i in range(count)]
    except (IndexError, KeyError, ValueError) as error:
        raise SeedError(f"{where}.name: not a format with {{i}}: {error}") from error
    if count > 1 and len(set(names)) != count:
        raise SeedError(f"{where}.name: the name must use {{i}} to make {count} names unique")
    return [
        SeedImage(
            name=name,
            state=image.state,
            description=_numbered(image.description, i, f"{where}.description"),
            tags={
                key: _numbered(value, i, f"{where}.tags.{key}") for key, value in image.tags.items()
            },
            kms_key=image.kms_key,
            launch_permissions=list(image.launch_permissions),
        )
        for i, name in enumerate(names)
    ]


def _numbered(text: str, i: int, where: str) -> str:
    """A generator's description or tag value with its `{i}` filled in; other text unchanged."""
    # Only text that asks for the number is formatted, so other braces need no escaping.
    if not _NUMBER_FIELD.search(text):
        return text
    try:
        return text.format(i=i)
    except (IndexError, KeyError, ValueError) as error:
        raise SeedError(f"{where}: not a format with {{i}}: {error}") from error


def _read_uid(raw: Any, where: str) -> str:
    if isinstance(raw, str) and _ACCOUNT_ID.match(raw):
        return raw
    if isinstance(raw, str):
        raise SeedError(f"{where}: expected a quoted 12-digit account ID, got {raw!r}")
    # YAML has converted an unquoted value (011111111111 even reads as octal), so
    # what it became is not what the user wrote and is not shown.
    raise SeedError(
        f"{where}: expected a quoted 12-digit account ID; write it in quotes, "
        'e.g. uid: "011111111111", so that YAML keeps it as text'
    )


def parse_seed(document: Any) -> dict[tuple[str, str], list[SeedImage]]:
    """Validate a loaded seed document; return the images per (account ID, region)."""
    # An empty file (or one of comments only) loads as None: a seed of no images.
    if document is None:
        return {}
    if not isinstance(document, dict) or not isinstance(document.get("accounts"), list):
        raise SeedError("the seed must be a mapping with an 'accounts' list")
    _refuse_unknown_fields(document, TOP_LEVEL_FIELDS, "")

    images_by_place: dict[tuple[str, str], list[SeedImage]] = {}
    seen_uids: dict[str, str] = {}
    for index, account in enumerate(document["accounts"]):
        where = f"accounts[{index}]"
        if not isinstance(account, dict):
            raise SeedError(f"{where}: expected a mapping")
        _refuse_unknown_fields(account, ACCOUNT_FIELDS, where)
        uid = _read_uid(account.get("uid"), f"{where}.uid")
        if uid in seen_uids:
            raise SeedError(f"{where}.uid: {uid} is already listed at {seen_uids[uid]}")
        seen_uids[uid] = where
        regions = account.get("regions") or {}
        if not isinstance(regions, dict):
            raise SeedError(f"{where}.regions: expected a mapping of region to images")
        for region, content in regions.items():
            place = f"{where}.regions.{region}"
            content = content or {}
            if not isinstance(content, dict):
                raise SeedError(f"{place}: expected a mapping with an 'images' list")
            _refuse_unknown_fields(content, REGION_FIELDS, place)
            raw_images = content.get("images") or []
            if not isinstance(raw_images, list):
                raise SeedError(f"{place}.images: expected a list")
            images = images_by_place.setdefault((uid, str(region)), [])
            for number, raw_image in enumerate(raw_images):
                images.extend(_expand(raw_image, f"{place}.images[{number}]"))
            names = [image.name for image in images]
            if len(set(names)) != len(names):
                # AWS refuses a second image of the same name in an account and region.
                raise SeedError(f"{place}: image names must be unique")
    return images_by_place


def _kms_key_arn(account_id: str, region: str, key_name: str) -> str:
    """The ARN of the named key in the account, created (with its alias) on first use."""
    from moto.kms.models import kms_backends

    kms = kms_backends[account_id][region]
    alias = f"alias/{key_name}"
    if not kms.alias_exists(alias):
        managed_by_aws = key_name == AWS_MANAGED_EBS_KEY
        key = kms.create_key(
            policy=None,
            key_usage="ENCRYPT_DECRYPT",
            key_spec="SYMMETRIC_DEFAULT",
            description=(
                "Default key that protects my EBS volumes when no other key is defined"
                if managed_by_aws
                else f"local-aws seed key {key_name}"
            ),
            tags=None,
        )
        # moto marks every key CUSTOMER; the default EBS key is AWS managed in AWS.
        if managed_by_aws:
            key.key_manager = "AWS"
        kms.create_alias(key.id, alias)
    return kms.describe_key(alias).arn


def _create_image(account_id: str, region: str, image: SeedImage) -> str:
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.amis import Ami

    backend = ec2_backends[account_id][region]
    image_id = image_id_for(account_id, region, image.name)
    ami = Ami(
        backend,
        image_id,
        name=image.name,
        description=image.description,
        state=image.state,
        architecture="x86_64",
        virtualization_type="hvm",
        root_device_type="ebs",
        root_device_name="/dev/xvda",
        region_name=f"{region}a",
        snapshot_description=f"Root snapshot of seeded image {image.name}",
    )
    if image.kms_key is not None:
        ami.ebs_snapshot.encrypted = True
        ami.ebs_snapshot.kms_key_id = _kms_key_arn(account_id, region, image.kms_key)
    if image.tags:
        backend.create_tags([image_id], image.tags)
    for principal in image.launch_permissions:
        ami.launch_permissions.append(
            {"Group": "all"} if principal == "all" else {"UserId": principal}
        )
    backend.amis[image_id] = ami
    return image_id


def _read_members(raw: Any, where: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise SeedError(f"{where}: expected a list of quoted 12-digit account IDs")
    return [_read_uid(uid, f"{where}[{index}]") for index, uid in enumerate(raw)]


def _read_id(raw: Any, pattern: re.Pattern[str], shape: str, where: str) -> str:
    if not isinstance(raw, str) or not pattern.match(raw):
        raise SeedError(f"{where}: expected {shape}, got {raw!r}")
    return raw


def parse_organizations(document: Any) -> dict[str, frozenset[str]]:
    """The seed's organizations as the accounts each organization and OU ARN reaches.

    An organization reaches its management account, the accounts in its root and those of
    its OUs; an OU reaches its own accounts. An account belongs to one organization at most,
    and within it to one OU at most, as in AWS.
    """
    raw_organizations = (document or {}).get("organizations") or []
    if not isinstance(raw_organizations, list):
        raise SeedError("organizations: expected a list")

    members: dict[str, frozenset[str]] = {}
    placed: dict[str, str] = {}

    def place(uid: str, where: str) -> None:
        if uid in placed:
            raise SeedError(f"{where}: account {uid} is already placed at {placed[uid]}")
        placed[uid] = where

    for index, raw in enumerate(raw_organizations):
        where = f"organizations[{index}]"
        if not isinstance(raw, dict):
            raise SeedError(f"{where}: expected a mapping")
        _refuse_unknown_fields(raw, ORGANIZATION_FIELDS, where)
        org_id = _read_id(
            raw.get("id"), _ORGANIZATION_ID, "an organization ID o-...", where + ".id"
        )
        management = _read_uid(raw.get("management_account"), f"{where}.management_account")
        place(management, f"{where}.management_account")
        everyone = {management}
        for number, uid in enumerate(_read_members(raw.get("accounts"), f"{where}.accounts")):
            place(uid, f"{where}.accounts[{number}]")
            everyone.add(uid)

        raw_units = raw.get("organizational_units") or []
        if not isinstance(raw_units, list):
            raise SeedError(f"{where}.organizational_units: expected a list")
        for number, raw_unit in enumerate(raw_units):
            unit_where = f"{where}.organizational_units[{number}]"
            if not isinstance(raw_unit, dict):
                raise SeedError(f"{unit_where}: expected a mapping")
            _refuse_unknown_fields(raw_unit, OU_FIELDS, unit_where)
            ou_id = _read_id(raw_unit.get("id"), _OU_ID, "an OU ID ou-...-...", unit_where + ".id")
            unit = _read_members(raw_unit.get("accounts"), f"{unit_where}.accounts")
            for position, uid in enumerate(unit):
                place(uid, f"{unit_where}.accounts[{position}]")
            ou_arn = f"arn:aws:organizations::{management}:ou/{org_id}/{ou_id}"
            if ou_arn in members:
                raise SeedError(f"{unit_where}.id: {ou_id} is listed twice")
            members[ou_arn] = frozenset(unit)
            everyone.update(unit)

        org_arn = f"arn:aws:organizations::{management}:organization/{org_id}"
        if org_arn in members:
            raise SeedError(f"{where}.id: {org_id} is listed twice")
        members[org_arn] = frozenset(everyone)
    return members


def load_seed(path: Path) -> int:
    """Create every image of the seed file in moto's backends; return how many."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise SeedError(f"{path}: not UTF-8 text: {error}") from error
    except yaml.YAMLError as error:
        raise SeedError(f"{path}: not valid YAML: {error}") from error
    images_by_place = parse_seed(document)
    memberships = parse_organizations(document)

    from moto.ec2.models import ec2_backends

    from tools.local_aws import sharing

    sharing.set_organizations(memberships)

    created = 0
    for (account_id, region), images in images_by_place.items():
        if region not in ec2_backends[account_id]:
            raise SeedError(f"account {account_id}: {region!r} is not an EC2 region")
        for image in images:
            _create_image(account_id, region, image)
            created += 1
    return created
