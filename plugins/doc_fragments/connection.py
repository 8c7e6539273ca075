# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the resource_sharing.aws project

from __future__ import annotations


class ModuleDocFragment:
    """What the modules need and the options of plugins/module_utils/_options.py CONNECTION_SPEC."""

    DOCUMENTATION = r"""
requirements:
  - python >= 3.9
  - boto3 >= 1.34.0
  - botocore >= 1.34.0
options:
  region:
    description:
      - The region of the images.
      - When not set, the E(AWS_REGION), E(AWS_DEFAULT_REGION) or E(EC2_REGION) environment
        variable is used, in that order.
      - A region that the installed botocore does not know for EC2 fails the task before any AWS
        call.
    type: str
    required: true
    aliases: [aws_region, ec2_region]
  source_account_id:
    description:
      - The 12-digit ID of the account that owns the images, as a string.
      - When set, the module refuses to act unless the source identity is this account. The
        identity is read from the AssumeRole answer when O(source_role_arn) is set, otherwise from
        one C(sts:GetCallerIdentity) call.
      - Also used in the default O(role_session_name).
    type: str
  source_role_arn:
    description:
      - A role in the source account, assumed from the calling identity, that lists and shares the
        images.
      - When not set, the calling identity itself acts as the source.
    type: str
  external_id:
    description:
      - The external ID passed to every AssumeRole call.
    type: str
  role_session_name:
    description:
      - The session name of every AssumeRole call, seen in the accounts' CloudTrail.
      - Defaults to C(resource-sharing-aws-) followed by O(source_account_id), or by C(source)
        when that is not set.
    type: str
  access_key:
    description:
      - The AWS access key ID of the calling identity. It is kept out of logs and output like
        the secret key.
      - When not set, the E(AWS_ACCESS_KEY_ID), E(AWS_ACCESS_KEY) or E(EC2_ACCESS_KEY)
        environment variable is used, and then boto3's usual chain (profile, instance role).
    type: str
    aliases: [aws_access_key_id, aws_access_key, ec2_access_key]
  secret_key:
    description:
      - The AWS secret access key of the calling identity.
      - When not set, the E(AWS_SECRET_ACCESS_KEY), E(AWS_SECRET_KEY) or E(EC2_SECRET_KEY)
        environment variable is used.
    type: str
    aliases: [aws_secret_access_key, aws_secret_key, ec2_secret_key]
  session_token:
    description:
      - The AWS session token of the calling identity, for temporary credentials.
      - When not set, the E(AWS_SESSION_TOKEN), E(AWS_SECURITY_TOKEN) or E(EC2_SECURITY_TOKEN)
        environment variable is used.
    type: str
    aliases: [aws_session_token, security_token, aws_security_token]
  profile:
    description:
      - A named profile of the AWS configuration files for the calling identity.
      - When not set, the E(AWS_PROFILE) environment variable is used.
      - Explicit O(access_key) and O(secret_key) take precedence over the profile.
    type: str
    aliases: [aws_profile]
  endpoint_url:
    description:
      - One URL that answers both EC2 and STS calls instead of AWS, for example a local emulator.
      - When not set, the E(AWS_URL) or E(EC2_URL) environment variable is used, and otherwise
        AWS's own regional endpoints.
      - When set, it must be an http(s) URL; an empty value is refused rather than taken to
        mean AWS.
    type: str
    aliases: [ec2_url, aws_endpoint_url]
  workers:
    description:
      - How many mutating calls (ModifyImageAttribute, CreateTags) run at once.
    type: int
    default: 8
  max_attempts:
    description:
      - Attempts per AWS call, the first included, with botocore's C(standard) retry mode
        (exponential backoff with jitter on throttling and transient errors).
    type: int
    default: 8
  connect_timeout:
    description:
      - Seconds to wait for a connection to the endpoint, per attempt.
      - With the defaults an unreachable endpoint fails the task in well under a minute.
    type: float
    default: 3
  read_timeout:
    description:
      - Seconds to wait for the next bytes of an answer on an open connection, per attempt.
    type: float
    default: 10
"""
