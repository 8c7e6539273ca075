"""The state a fleet must end in, computed from its account files and its local AWS seed.

Independent of the collection's code on purpose: it reads the declaration the way
docs and DESIGN.md describe it, so a test compares the product against the spec.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from harness import LocalAws

REGIONS = ("us-east-1", "us-west-2")
# An account that no file declares: it must never see an image of the fleet.
UNDECLARED = "999999999999"
AWS_MANAGED_KEY = "aws/ebs"

Desired = dict[tuple[str, str], dict[str, dict[str, str]]]


def seeded_images(seed: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Images per (owner uid, region), with `count` generators expanded."""
    images: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for account in yaml.safe_load(seed.read_text())["accounts"]:
        for region, content in account["regions"].items():
            images[(account["uid"], region)].extend(expand(content.get("images") or []))
    return images


def expand(images: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for image in images:
        if "count" in image:
            for i in range(image["count"]):
                yield {**image, "name": image["name"].format(i=i)}
        else:
            yield image


def account_files(data_dir: Path) -> dict[str, dict[str, Any]]:
    """Account documents by their $ref path ("/aws/stage/account.yml")."""
    return {
        "/" + path.relative_to(data_dir).as_posix(): yaml.safe_load(path.read_text())
        for path in sorted(data_dir.rglob("account.yml"))
    }


def desired_state(data_dir: Path, seed: Path) -> Desired:
    """What each (target uid, region) must see as shared with it: image name -> its tags."""
    accounts = account_files(data_dir)
    images = seeded_images(seed)
    desired: Desired = defaultdict(dict)
    for source in accounts.values():
        for entry in source.get("sharing") or []:
            target = accounts[entry["account"]["$ref"]]
            region = entry.get("region") or source["resourcesDefaultRegion"]
            for image in images[(source["uid"], region)]:
                if (
                    re.search(entry["regex"], image["name"])
                    and image.get("state", "available") == "available"
                    and image.get("kms_key") != AWS_MANAGED_KEY
                ):
                    desired[(target["uid"], region)][image["name"]] = dict(image.get("tags", {}))
    return dict(desired)


def assert_desired_state(aws: LocalAws, data_dir: Path, seed: Path) -> int:
    """Every target sees exactly its images with exactly their tags; nobody else sees any.

    Returns how many (image, target) shares were checked.
    """
    desired = desired_state(data_dir, seed)
    uids = {account["uid"] for account in account_files(data_dir).values()}
    for uid in sorted(uids):
        for region in REGIONS:
            assert aws.shared_with(uid, region) == desired.get((uid, region), {}), (uid, region)
    sources = {uid for uid, _region in seeded_images(seed)}
    for region in REGIONS:
        # Not public, and not shared with an account no file declares.
        assert aws.ec2(UNDECLARED, region).describe_images()["Images"] == [], region
        for uid in sources:
            public = aws.ec2(uid, region).describe_images(Owners=["self"], ExecutableUsers=["all"])
            assert public["Images"] == [], (uid, region)
    return sum(len(names) for names in desired.values())
