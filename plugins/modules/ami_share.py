#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the resource_sharing.aws project

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ami_share
short_description: Share AMIs from a source account with a target account and copy their tags
version_added: 0.1.0
description:
  - Reconciles one share, that is one source account, one region, one target and the images
    whose names match O(name_regex) or any of O(name_regexes). The target is an account
    (O(target_account_id)), an AWS Organization (O(target_organization_arn)), an organizational
    unit (O(target_organizational_unit_arn)) or everyone (O(target_public), which also needs
    O(allow_public)).
  - Lists the images the source owns in O(region) whose name matches, adds a launch
    permission for O(target_account_id) to every C(available) one that lacks it, and, with
    O(copy_tags), writes the source's tags on those images in the target account, where the
    target sees them.
  - The plan is computed first from a fixed number of list calls and then applied. A run with
    nothing to do makes no change and no call per image.
  - Images that match but are not C(available) (for example C(pending) or C(failed)), and images
    deregistered between the listing and their share, are skipped and listed in
    RV(skipped_images).
  - A failure on one image (for example access denied) is recorded for that image in
    RV(failures); the other images go on, and the task fails at the end with every result still
    returned.
  - Source tags that cannot be written within AWS limits are listed per image in RV(images) and
    reported as warnings, and so are C(available) images that cannot be shared (encrypted with
    the AWS managed key, or deregistered during the run).
  - With O(state=present), launch permissions are only ever added, for the target alone, and
    no image is made public unless O(target_public) and O(allow_public) are both true. With
    O(state=absent), the permission of the target is removed from every matching image that
    has it, whatever its state;
    other principals are left alone. To take back every permission that the account files no
    longer declare, see M(resource_sharing.aws.ami_revoke).
author:
  - resource_sharing.aws maintainers (!UNKNOWN)
extends_documentation_fragment:
  - resource_sharing.aws.connection
attributes:
  check_mode:
    support: full
    description: Makes no change and returns the same plan, RV(shared) and RV(tagged).
  diff_mode:
    support: full
    description:
      - Returns one diff per changed image with the target's launch permission and tags, one per
        image whose snapshots' C(createVolumePermission) changes, and one per KMS key granted.
options:
  name_regex:
    description:
      - A Python regular expression; an image is selected when C(re.search) finds it in the image
        name.
      - An empty or invalid expression fails the task before any AWS call.
      - Exactly one of O(name_regex) and O(name_regexes) is required.
    type: str
  name_regexes:
    description:
      - Several expressions like O(name_regex); an image is selected when any of them matches.
      - Several sharing entries of one source for the same target and region are one share this
        way, so the images are listed once and an image matched twice is handled once.
      - Each expression is one list element; a plain string is not split on commas here, so pass
        a YAML list.
    type: list
    elements: str
    version_added: 0.2.0
  target_account_id:
    description:
      - The 12-digit ID of the account to share with, as a string. Leading zeros are significant,
        so quote the value in YAML.
      - Exactly one of O(target_account_id), O(target_organization_arn),
        O(target_organizational_unit_arn) and O(target_public) names the target.
    type: str
  target_organization_arn:
    description:
      - Share with every account of an AWS Organization, as an organization launch permission,
        for example
        C(arn:aws:organizations::123456789012:organization/o-a1b2c3d4e5).
      - Tags are not copied to an organization (RV(tags_not_copied) says so), and AWS cannot list
        the images shared with one, so this costs one C(DescribeImageAttribute) per matching
        C(available) image on every run.
    type: str
    version_added: 0.2.0
  target_organizational_unit_arn:
    description:
      - Share with every account of an organizational unit, as the launch permission
        C(OrganizationalUnitArn), for example
        C(arn:aws:organizations::123456789012:ou/o-a1b2c3d4e5/ou-ab12-cdef3456).
      - Tags and cost as for O(target_organization_arn).
    type: str
    version_added: 0.2.0
  target_public:
    description:
      - Make the matching images public (the launch permission C(Group=all)). Refused unless
        O(allow_public=true) too, so that public sharing is never one option away.
      - Tags are not copied; finding the images already public is one listing.
    type: bool
    default: false
    version_added: 0.2.0
  allow_public:
    description:
      - Confirms O(target_public). Refused without it.
    type: bool
    default: false
    version_added: 0.2.0
  copy_tags:
    description:
      - Write the source's tags on the shared images in the target account, where they are
        missing or different.
      - Tags with keys starting with C(aws:) are never copied. Tags the target set on keys the
        source does not have are left alone.
      - AWS limits are respected (50 tags per image counting the target's own, keys up to 128 and
        values up to 256 characters); what does not fit is reported per image in
        RV(images[].tags_not_written).
      - Only the target account can tag the images shared with it, so this needs
        O(target_role_arn).
      - With an organization, OU or public target there is no single account to write tags in;
        nothing is copied and RV(tags_not_copied) says so. The share does not fail.
    type: bool
    default: true
  target_role_arn:
    description:
      - A role in the target account, assumed from the calling identity, that lists and tags the
        shared images there.
      - Required when O(copy_tags=true) and the target is an account. The module refuses to act
        when the role is not in O(target_account_id).
    type: str
  tag_include:
    description:
      - Shell-style patterns (C(fnmatch), case-sensitive) of the source tag keys to copy. A key
        is copied when it matches one of them and none of O(tag_exclude). An empty list copies
        no source tag. The product's record keys are never copied.
    type: list
    elements: str
    default: ['*']
  tag_exclude:
    description:
      - Shell-style patterns of source tag keys never to copy.
    type: list
    elements: str
    default: []
  extra_tags:
    description:
      - Tags written on every shared image in the target, over a source tag of the same key,
        for example the name of the source account. When the 50-tag limit leaves no room for
        every tag, these are written first.
      - Keys starting with C(aws:) or C(resource-sharing-aws:managed-keys) are refused. A number
        is written as its text; other values that are not text are refused.
    type: dict
    default: {}
  prune_tags:
    description:
      - Delete from the target's view of each image the tags this module wrote earlier that
        are no longer wanted (the source dropped the key, O(tag_exclude) now excludes it, or it
        left O(extra_tags)). Tags the target set itself are never deleted.
      - The module records the keys it manages in the tag C(resource-sharing-aws:managed-keys)
        (continued in C(resource-sharing-aws:managed-keys:2) and so on when longer than one tag
        value) on the target's view of each image; the record counts towards the 50-tag limit.
        Only keys named in the record are ever deleted.
    type: bool
    default: false
  share_snapshots:
    description:
      - Also give O(target_account_id) C(createVolumePermission) on every EBS snapshot of each
        shared image, which it needs to copy the image or create volumes from its snapshots
        (launching needs no snapshot permission).
      - Costs one paged C(DescribeSnapshots) listing per share on every run, and one
        C(ModifySnapshotAttribute) per snapshot that lacks the permission.
      - With O(state=absent), the permission is removed from the snapshots of the matching
        images.
    type: bool
    default: false
    version_added: 0.2.0
  share_kms_keys:
    description:
      - For images encrypted with a customer managed KMS key of the source account, give
        O(target_account_id) a KMS grant on the key, named C(resource-sharing-aws-<target>),
        for the principal C(arn:aws:iam::<target>:root) with the operations C(CreateGrant),
        C(Decrypt), C(DescribeKey), C(GenerateDataKeyWithoutPlaintext), C(ReEncryptFrom) and
        C(ReEncryptTo), which the target needs to launch or copy the image.
      - A grant the target already has with those operations, under any name, is kept, so
        reruns create nothing. Costs C(DescribeSnapshots) (one per 200 encrypted snapshots)
        and one paged C(ListGrants) per key on every run, and one C(CreateGrant) per key
        without the grant.
      - Without it, the keys of images shared in this run are listed in RV(kms_keys) and
        warned about. A key owned by another account is reported, never granted.
      - Grants are never retired, also not with O(state=absent), since one grant covers
        every image on the key.
    type: bool
    default: false
    version_added: 0.2.0
  state:
    description:
      - V(present) shares the matching images with the target (and tags them there).
      - V(absent) removes the target's launch permission from the matching images, with one
        C(ModifyImageAttribute) per image that has it. O(copy_tags) and O(target_role_arn) are
        not used; the tags the target holds on the images are left, invisible to it once the
        image is no longer shared.
    type: str
    choices: [present, absent]
    default: present
notes:
  - "IAM actions used: in the source, C(ec2:DescribeImages) and C(ec2:ModifyImageAttribute),
    C(ec2:DescribeImageAttribute) for an organization or OU target,
    and, only when an encrypted image is about to be shared, C(ec2:DescribeSnapshots) and
    C(kms:DescribeKey) on the C(alias/aws/ebs) key; with O(share_snapshots),
    C(ec2:DescribeSnapshots) and C(ec2:ModifySnapshotAttribute); with O(share_kms_keys),
    C(ec2:DescribeSnapshots), C(kms:ListGrants) and C(kms:CreateGrant) on the keys; in the
    target, C(ec2:DescribeImages) and C(ec2:CreateTags) on C(arn:aws:ec2:*::image/*); for the
    calling identity, C(sts:AssumeRole) on O(source_role_arn) and O(target_role_arn), and
    C(sts:GetCallerIdentity) when O(source_account_id) is set without O(source_role_arn)."
  - AWS is eventually consistent. A freshly created image can be missing from the listing for a
    moment and is then shared by the next run; a freshly shared image can be invisible to the
    target for a moment, in which case its tagging fails for that image alone and the next run
    writes the tags.
  - AWS does not let anyone share an image whose snapshots are encrypted with the AWS managed key
    C(aws/ebs); such images are skipped with that reason and the fix (copy the image with a
    customer managed key and share the copy). With a customer managed key, the target also
    needs the right to use the key before it can launch the image; see O(share_kms_keys).
  - Launching a shared image needs no snapshot permission; copying it or creating volumes from
    its snapshots does; see O(share_snapshots).
  - Tags written in the target are seen by the target only; the source's own tags are not
    changed.
seealso:
  - name: Sharing an AMI with specific AWS accounts
    description: The AWS documentation of launch permissions.
    link: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/sharingamis-explicit.html
"""

EXAMPLES = r"""
- name: Share the service-a images of the build account with stage, with their tags
  resource_sharing.aws.ami_share:
    region: us-east-1
    name_regex: '^service-a-'
    source_account_id: '111111111111'
    target_account_id: '222222222222'
    source_role_arn: arn:aws:iam::111111111111:role/ami-share
    target_role_arn: arn:aws:iam::222222222222:role/ami-share
    external_id: "{{ ami_share_external_id }}"

- name: Share the images of two sharing entries for the same target and region as one share
  resource_sharing.aws.ami_share:
    region: us-east-1
    name_regexes: ['^service-a-', '^service-b-']
    source_account_id: '111111111111'
    target_account_id: '222222222222'
    source_role_arn: arn:aws:iam::111111111111:role/ami-share
    target_role_arn: arn:aws:iam::222222222222:role/ami-share

- name: Share without tags, from the calling identity, and show what would change
  resource_sharing.aws.ami_share:
    region: eu-west-1
    name_regex: '^base-image-[0-9]+$'
    target_account_id: '012345678901'
    copy_tags: false
  check_mode: true
  diff: true
  register: preview

- name: Share the service-a images with every account of an organization (no tags are copied)
  resource_sharing.aws.ami_share:
    region: us-east-1
    name_regex: '^service-a-'
    source_account_id: '111111111111'
    target_organization_arn: arn:aws:organizations::123456789012:organization/o-a1b2c3d4e5
    source_role_arn: arn:aws:iam::111111111111:role/ami-share

- name: Make the public base images public, which takes both flags
  resource_sharing.aws.ami_share:
    region: us-east-1
    name_regex: '^public-base-'
    target_public: true
    allow_public: true
    copy_tags: false

- name: Work against a local emulator with fake credentials
  resource_sharing.aws.ami_share:
    region: us-east-1
    name_regex: '.*'
    target_account_id: '222222222222'
    target_role_arn: arn:aws:iam::222222222222:role/ami-share
    endpoint_url: http://127.0.0.1:5000
    access_key: testing
    secret_key: testing
"""

RETURN = r"""
unshared:
  description:
    - With O(state=absent), IDs of the images whose launch permission for the target was removed
      (in check mode, would be). Always empty with O(state=present).
  returned: when O(state=absent)
  type: list
  elements: str
  sample: [ami-0123456789abcdef0]
shared:
  description: IDs of the images newly shared with the target (in check mode, those that would be).
  returned: always
  type: list
  elements: str
  sample: [ami-0123456789abcdef0]
tags_not_copied:
  description:
    - Why no tags were copied, when O(copy_tags) is true and the target is an organization, an
      OU or the public.
  returned: when the target is not an account and O(copy_tags=true)
  type: str
  sample: "tags are not copied: only a target account has a view of the images to write them in"
tagged:
  description:
    - The tags written in the target, per image ID (in check mode, those that would be).
  returned: always
  type: dict
  sample: {"ami-0123456789abcdef0": {"Name": "service-a-42", "commit": "3f2a9c1"}}
untagged:
  description:
    - The tag keys deleted in the target with O(prune_tags), per image ID (in check mode, those
      that would be).
  returned: always
  type: dict
  sample: {"ami-0123456789abcdef0": ["build-log"]}
skipped_images:
  description:
    - Matched images that are left alone, and why.
    - Not named C(skipped), which Ansible would take for a skipped task.
  returned: always
  type: list
  elements: dict
  contains:
    image_id:
      description: The image ID.
      type: str
      sample: ami-0fedcba9876543210
    name:
      description: The image name.
      type: str
      sample: service-a-43
    state:
      description: The image state in the source.
      type: str
      sample: pending
    reason:
      description: Why the image is skipped.
      type: str
      sample: state is pending, only available images can be shared
image_count:
  description:
    - How many images match O(name_regex) or O(name_regexes), in any state.
  returned: always
  type: int
  sample: 10000
  version_added: 0.2.0
images:
  description:
    - Every image whose name matches O(name_regex) or O(name_regexes), and what was done or
      planned for it.
    - When more than 1,000 images match (see RV(image_count)), only the images that need a
      person are listed, those skipped, failed or with tags not written; what was done to the
      others is in RV(shared), RV(tagged) and RV(untagged). Listing every image would cost the
      module process several times the JSON size of the list in memory.
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
      sample: service-a-42
    state:
      description: The image state in the source.
      type: str
      sample: available
    encrypted:
      description: Whether any EBS snapshot of the image is encrypted.
      type: bool
      sample: false
    launch_permission_before:
      description: Whether the target had an explicit launch permission before the run.
      type: bool
      sample: false
    actions:
      description:
        - The planned actions, C(share), C(untag) and C(tag), in the order they are applied;
          C(unshare) with O(state=absent). Snapshot permissions and KMS grants are in RV(plan).
      type: list
      elements: str
      sample: [share, tag]
    done:
      description: The actions that succeeded in this run; empty in check mode.
      type: list
      elements: str
      sample: [share, tag]
    tags:
      description: The tags planned for the image in the target.
      type: dict
      sample: {"Name": "service-a-42"}
    tags_not_written:
      description: Source tags left out because of AWS tag limits, each with C(key) and C(reason).
      type: list
      elements: dict
      returned: when some source tags do not fit
      sample: [{"key": "build-log", "reason": "value longer than 256 characters"}]
    skip_reason:
      description: Why the image is skipped.
      type: str
      returned: when the image is skipped
      sample: state is pending, only available images can be shared
    error:
      description:
        - The error that stopped this image, with C(operation), C(code) and C(message).
      type: dict
      returned: when the image failed
      sample: {"operation": "ModifyImageAttribute", "code": "AuthFailure", "message": "denied"}
failures:
  description:
    - One entry per image that failed; the task fails when this is not empty.
    - A failed snapshot permission or KMS grant is an entry whose C(image_id) is the snapshot
      ID or the key ARN.
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
      sample: service-a-42
    operation:
      description: The AWS operation that failed.
      type: str
      sample: ModifyImageAttribute
    code:
      description: The AWS error code.
      type: str
      sample: InvalidAMIID.NotFound
    message:
      description: The AWS error message.
      type: str
      sample: The image id '[ami-0123456789abcdef0]' does not exist
plan:
  description:
    - The actions computed for this run, shares first, whether applied or not.
    - When more than 1,000 images match, only the actions that RV(shared), RV(tagged) and
      RV(untagged) do not report (those of failed images; none in check mode).
    - With O(state=absent), one C(unshare) action per image, with C(principal) and C(reason).
    - Then one C(share_snapshot) (C(unshare_snapshot) with O(state=absent)) per snapshot, and one
      C(grant_key) per KMS key.
  returned: always
  type: list
  elements: dict
  sample:
    - {"action": "share", "image_id": "ami-0123456789abcdef0", "account_id": "222222222222"}
    - {"action": "share", "image_id": "ami-0123456789abcdef1",
       "organization_arn": "arn:aws:organizations::123456789012:organization/o-a1b2c3d4e5"}
    - {"action": "tag", "image_id": "ami-0123456789abcdef0", "tags": {"Name": "service-a-42"}}
diff:
  description:
    - With C(--diff), per changed image its launch permission and tags in the target, before and
      after.
    - When more than 1,000 images match, one summary instead, with the number of matched images
      in the header, the number of images with the target's launch permission before and after,
      and the IDs of the images newly shared (C(launch_permission_added)), tagged
      (C(tags_written)) and untagged (C(tags_deleted)).
  returned: with C(--diff)
  type: list
  elements: dict
  sample:
    - before_header: ami-0123456789abcdef0 (service-a-42)
      after_header: ami-0123456789abcdef0 (service-a-42)
      before: {"launch_permission": false, "tags": {}}
      after: {"launch_permission": true, "tags": {"Name": "service-a-42"}}
error:
  description:
    - When the share as a whole failed on an AWS call (a role that cannot be assumed, expired
      credentials, an endpoint that cannot be reached), that error, with C(operation), C(code)
      and C(message). The task's C(msg) says the same with what to do about it.
  returned: when the share failed on an AWS call before any image was handled
  type: dict
  sample: {"operation": "AssumeRole", "code": "AccessDenied", "message": "not authorized"}
snapshots_shared:
  description:
    - With O(share_snapshots), the snapshots given C(createVolumePermission) for the target, per
      image ID (in check mode, those that would be).
  returned: when O(state=present)
  type: dict
  sample: {"ami-0123456789abcdef0": ["snap-0123456789abcdef0"]}
snapshots_unshared:
  description:
    - With O(state=absent) and O(share_snapshots), the snapshots whose C(createVolumePermission)
      for the target was removed, per image ID (in check mode, would be).
  returned: when O(state=absent)
  type: dict
  sample: {"ami-0123456789abcdef0": ["snap-0123456789abcdef0"]}
kms_grants:
  description:
    - With O(share_kms_keys), the KMS grants created for the target (in check mode, those that
      would be), with C(key_arn), C(GranteePrincipal), C(Operations), C(Name) and the
      C(image_ids) on the key.
  returned: when O(state=present)
  type: list
  elements: dict
  sample:
    - key_arn: arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab
      GranteePrincipal: arn:aws:iam::222222222222:root
      Operations: [CreateGrant, Decrypt, DescribeKey, GenerateDataKeyWithoutPlaintext,
                   ReEncryptFrom, ReEncryptTo]
      Name: resource-sharing-aws-222222222222
      image_ids: [ami-0123456789abcdef0]
kms_keys:
  description:
    - The customer managed keys of the encrypted images that are shared, each with C(key_arn),
      C(image_ids) and C(status) (C(granted), C(grant), or why the target is not given the key).
    - With O(share_kms_keys) every shared encrypted image's key is listed; without it, only
      the keys of the images shared in this run, each with a warning.
  returned: when O(state=present)
  type: list
  elements: dict
  sample:
    - key_arn: arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab
      image_ids: [ami-0123456789abcdef0]
      status: "not granted: share_kms_keys is off"
calls:
  description: AWS API calls made, per C(service:Operation), retries not counted.
  returned: always
  type: dict
  sample: {"ec2:DescribeImages": 3, "sts:AssumeRole": 2}
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.basic import missing_required_lib  # noqa: E402
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import key_warnings  # noqa: E402
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import BOTO3_IMPORT_ERROR  # noqa: E402
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import HAS_BOTO3  # noqa: E402
from ansible_collections.resource_sharing.aws.plugins.module_utils._options import CONNECTION_SPEC  # noqa: E402
from ansible_collections.resource_sharing.aws.plugins.module_utils._revoke import unshare  # noqa: E402
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import ShareError  # noqa: E402
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import failure_summary  # noqa: E402
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import reconcile  # noqa: E402
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import skip_warnings  # noqa: E402
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import target_principal  # noqa: E402
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import (  # noqa: E402
    unwritten_tag_warnings,
)

ARGUMENT_SPEC = {
    **CONNECTION_SPEC,
    "name_regex": {"type": "str"},
    # A list of its own: type=list would split a plain name_regex string on its commas.
    "name_regexes": {"type": "list", "elements": "str"},
    "target_account_id": {"type": "str"},
    "target_organization_arn": {"type": "str"},
    "target_organizational_unit_arn": {"type": "str"},
    "target_public": {"type": "bool", "default": False},
    "allow_public": {"type": "bool", "default": False},
    "copy_tags": {"type": "bool", "default": True},
    "target_role_arn": {"type": "str"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "tag_include": {"type": "list", "elements": "str", "default": ["*"]},
    "tag_exclude": {"type": "list", "elements": "str", "default": []},
    "extra_tags": {"type": "dict", "default": {}},
    "prune_tags": {"type": "bool", "default": False},
    "share_snapshots": {"type": "bool", "default": False},
    "share_kms_keys": {"type": "bool", "default": False},
}


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        mutually_exclusive=[("name_regex", "name_regexes")],
        required_one_of=[("name_regex", "name_regexes")],
    )
    if not HAS_BOTO3:
        module.fail_json(
            msg=missing_required_lib("boto3 and botocore"), exception=BOTO3_IMPORT_ERROR
        )

    try:
        run = unshare if module.params["state"] == "absent" else reconcile
        result = run(module.params, module.check_mode, module._diff)
    except ShareError as error:
        module.fail_json(msg=str(error), **error.as_dict())

    for warning in unwritten_tag_warnings(result, target_principal(module.params)):
        module.warn(warning)
    for warning in skip_warnings(result):
        module.warn(warning)
    for warning in key_warnings(result, module.params["target_account_id"]):
        module.warn(warning)
    if result["failures"]:
        module.fail_json(msg=failure_summary(result), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
