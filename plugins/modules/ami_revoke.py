#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the resource_sharing.aws project

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ami_revoke
short_description: Take back the AMI launch permissions that the account files no longer declare
version_added: 0.2.0
description:
  - Makes the launch permissions of one source account's images in one region match a
    declaration, the way the role C(resource_sharing.aws.ami_share) does with
    C(ami_share_revoke=true).
  - O(shares) is the whole declaration of the source in O(region). A principal that O(shares)
    names keeps its permission on the images whose name matches one of its regexes and loses it
    on every other image of the source.
  - A 12-digit account in O(known_accounts) (an account that has a file) that O(shares) does
    not name loses its permission on every image, as after a deleted sharing entry.
  - Any other principal (an account no file declares, an organization or OU no entry names, or
    public access no entry allows) is reported in RV(undeclared) and removed only with
    O(revoke_undeclared=true).
  - Reads every image the source owns in the region (one paged C(DescribeImages)) and the launch
    permissions of each (one C(DescribeImageAttribute) per image, as AWS has no call that lists
    them), then removes what is stale with one C(ModifyImageAttribute) per changed image.
  - A failure on one image is recorded for that image in RV(failures); the others go on and the
    task fails at the end.
author:
  - resource_sharing.aws maintainers (!UNKNOWN)
extends_documentation_fragment:
  - resource_sharing.aws.connection
attributes:
  check_mode:
    support: full
    description: Makes no change and returns the same RV(revoked), RV(undeclared) and RV(plan).
  diff_mode:
    support: full
    description:
      - Returns one diff per changed image with its launch permissions before and after.
      - With O(share_snapshots), also one diff per image and account whose snapshots change,
        headed C(<image> snapshots of <account>), with C(create_volume_permission) per snapshot.
options:
  shares:
    description:
      - Every sharing entry of the source in O(region), as principal and name regex pairs.
      - An empty list declares that nothing of this source is shared in O(region).
    type: list
    elements: dict
    required: true
    suboptions:
      target:
        description:
          - A 12-digit account ID, an organization ARN, an OU ARN, or C(all) for public access.
        type: str
        required: true
      regex:
        description:
          - A Python regular expression searched for in the image name (C(re.search)).
        type: str
        required: true
  known_accounts:
    description:
      - The 12-digit IDs of every account the account files declare. Their permissions are
        removed when no entry of O(shares) keeps them; the permissions of other principals are
        only reported unless O(revoke_undeclared=true).
    type: list
    elements: str
    default: []
  revoke_undeclared:
    description:
      - Also remove the permissions listed in RV(undeclared).
    type: bool
    default: false
  share_snapshots:
    description:
      - Also take back C(createVolumePermission) on the EBS snapshots of an image from each
        12-digit account that loses its launch permission on the image, where the account has
        it, so that it can no longer copy the image. A snapshot that also backs an image the
        account keeps is left alone.
      - Costs one paged C(DescribeSnapshots) listing per account that loses a launch
        permission, and one C(ModifySnapshotAttribute) per snapshot whose permission is removed;
        nothing when no launch permission is removed.
      - Snapshots of an image whose launch permission could not be removed are not touched.
    type: bool
    default: false
notes:
  - "IAM actions used: in the source, C(ec2:DescribeImages), C(ec2:DescribeImageAttribute) and
    C(ec2:ModifyImageAttribute), and with O(share_snapshots) C(ec2:DescribeSnapshots) and
    C(ec2:ModifySnapshotAttribute); for the calling identity, C(sts:AssumeRole) on
    O(source_role_arn), and C(sts:GetCallerIdentity) when O(source_account_id) is set without
    O(source_role_arn)."
  - "Cost: 1 C(DescribeImages) page per 1,000 images, 1 C(DescribeImageAttribute) per image the
    source owns in the region, and 1 C(ModifyImageAttribute) per image that changes; with
    O(share_snapshots), 1 C(DescribeSnapshots) page per 1,000 permitted snapshots of each account
    that loses a launch permission, and 1 C(ModifySnapshotAttribute) per snapshot that changes."
seealso:
  - module: resource_sharing.aws.ami_share
"""

EXAMPLES = r"""
- name: Keep service-a images shared with stage only, report every other account
  resource_sharing.aws.ami_revoke:
    region: us-east-1
    source_account_id: '111111111111'
    source_role_arn: arn:aws:iam::111111111111:role/ami-share
    shares:
      - {target: '222222222222', regex: '^service-a-'}
    known_accounts: ['111111111111', '222222222222', '333333333333']
  check_mode: true
  diff: true
"""

RETURN = r"""
revoked:
  description: The permissions removed (in check mode, that would be), one entry per image and
    principal.
  returned: always
  type: list
  elements: dict
  contains:
    image_id:
      description: The image ID.
      type: str
      sample: ami-0123456789abcdef0
    name:
      description: The image name.
      type: str
      sample: service-a-41
    principal:
      description: An account ID, an organization or OU ARN, or C(all).
      type: str
      sample: '333333333333'
    reason:
      description: Why the permission is stale.
      type: str
      sample: no sharing entry of this source names this account in this region
undeclared:
  description:
    - Permissions of principals that no account file declares, with the same keys as
      RV(revoked). They are also in RV(revoked) when O(revoke_undeclared=true).
  returned: always
  type: list
  elements: dict
  sample: [{"image_id": "ami-0123456789abcdef0", "name": "service-a-41",
            "principal": "444444444444", "reason": "no account file declares this principal"}]
images_scanned:
  description: How many images of the source in the region were read.
  returned: always
  type: int
  sample: 120
failures:
  description:
    - One entry per image whose permissions could not be read or changed.
    - With O(share_snapshots), one entry per snapshot whose permission could not be removed,
      with the snapshot ID in C(image_id), as M(resource_sharing.aws.ami_share) reports it.
  returned: always
  type: list
  elements: dict
  sample: [{"image_id": "ami-0123456789abcdef0", "operation": "ModifyImageAttribute",
            "code": "AuthFailure", "message": "denied"}]
snapshots_unshared:
  description:
    - With O(share_snapshots), the snapshot permissions removed (in check mode, that would be),
      one entry per account and snapshot. Empty without O(share_snapshots).
  returned: always
  type: list
  elements: dict
  sample: [{"account_id": "333333333333", "image_id": "ami-0123456789abcdef0",
            "snapshot_id": "snap-0123456789abcdef0"}]
plan:
  description:
    - One C(unshare) action per image and principal, whether applied or not.
    - With O(share_snapshots), then one C(unshare_snapshot) action per account and snapshot, with
      C(image_id), C(snapshot_id) and C(account_id).
  returned: always
  type: list
  elements: dict
  sample: [{"action": "unshare", "image_id": "ami-0123456789abcdef0", "name": "service-a-41",
            "principal": "333333333333", "reason": "no account file declares this principal"}]
calls:
  description: AWS API calls made, per C(service:Operation), retries not counted.
  returned: always
  type: dict
  sample: {"ec2:DescribeImages": 1, "ec2:DescribeImageAttribute": 120, "sts:AssumeRole": 1}
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.basic import missing_required_lib  # noqa: E402
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import BOTO3_IMPORT_ERROR  # noqa: E402
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import HAS_BOTO3  # noqa: E402
from ansible_collections.resource_sharing.aws.plugins.module_utils._options import CONNECTION_SPEC  # noqa: E402
from ansible_collections.resource_sharing.aws.plugins.module_utils._revoke import revoke  # noqa: E402
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import ShareError  # noqa: E402

ARGUMENT_SPEC = {
    **CONNECTION_SPEC,
    "shares": {
        "type": "list",
        "elements": "dict",
        "required": True,
        "options": {
            "target": {"type": "str", "required": True},
            "regex": {"type": "str", "required": True},
        },
    },
    "known_accounts": {"type": "list", "elements": "str", "default": []},
    "revoke_undeclared": {"type": "bool", "default": False},
    "share_snapshots": {"type": "bool", "default": False},
}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if not HAS_BOTO3:
        module.fail_json(
            msg=missing_required_lib("boto3 and botocore"), exception=BOTO3_IMPORT_ERROR
        )

    try:
        result = revoke(module.params, module.check_mode, module._diff)
    except ShareError as error:
        module.fail_json(msg=str(error), **error.as_dict())

    if result["failures"]:
        count = len(result["failures"])
        module.fail_json(msg=f"{count} images failed", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
