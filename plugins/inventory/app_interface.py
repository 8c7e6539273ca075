# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: Contributors to the resource_sharing.aws project

from __future__ import annotations

DOCUMENTATION = r"""
name: app_interface
short_description: AWS accounts and their AMI shares from app-interface style account files
version_added: 0.1.0
author:
  - resource_sharing.aws maintainers (!UNKNOWN)
description:
  - Reads every C(*.yml) and C(*.yaml) file under O(data_dir) whose C($schema) is
    C(/aws/account-1.yml) and makes one host per AWS account, named after the account's C(name).
  - Every account is in the group C(aws_accounts). Accounts whose C(sharing) holds at least one
    entry with the provider C(ami), or is present with no entry (an empty list, or the key left
    with no value; the account shares no AMI, so revocation takes back what it shared), are also
    in the group C(ami_share_sources). An account without a C(sharing) key is left alone.
  - A provider that differs from C(ami) only by case or spaces (C(AMI), C('ami ')) is an invalid
    entry, not another provider's. An entry's region (its own, or the source's
    C(resourcesDefaultRegion)) that the installed botocore does not know is an invalid entry.
  - Each C(sharing) entry is validated and its C(account.$ref) resolved to the target account.
  - An entry names exactly one target, in one of four keys. C(account) with a C($ref) to an
    account file; C(organization_arn), an AWS Organization ARN such as
    C(arn:aws:organizations::123456789012:organization/o-a1b2c3d4e5); C(organizational_unit_arn),
    an OU ARN such as C(arn:aws:organizations::123456789012:ou/o-a1b2c3d4e5/ou-ab12-cdef3456);
    or C(public) set to true, which also needs C(allow_public) set to true on the same entry, so
    that no single line makes images public. C(allow_public) on any other entry is an error.
    ARNs are checked against the shapes of the AWS Organizations API, whole (no spaces or newlines
    around them).
  - No tags are written for an organization, OU or public entry, since no single account holds
    them; the role says so in its line for the share.
    A bad entry keeps its place with C(error) set, so that the role reports it and makes no AWS
    call for it while the good entries still run.
  - An account file that cannot be used at all (YAML syntax error, bad C(uid), C(sharing) not a
    list, a name or uid used twice, ...) becomes a host named after its path in the group
    C(invalid_account_files), with the messages in C(aws_account_file_errors). The playbook
    C(resource_sharing.aws.share_amis) fails those hosts so that the run ends failed.
  - Every problem is also shown as a warning. Messages name the file (relative to O(data_dir)),
    the entry index and the field.
  - Other fields of the account files (C(automationToken), C(accountOwners), C(cleanup), the
    account-level C(organization), ...) are accepted and never copied into host variables.
  - The host variables of an account are C(aws_account_uid) (a string of 12 digits, leading
    zeros kept), C(aws_default_region), C(aws_supported_regions) (a list, or null) and
    C(sharing), a list of entries with C(provider), C(regex), C(region) (as declared, or null),
    C(account) (the resolved target, with C(name), C(uid), C(resourcesDefaultRegion) and
    C(supportedDeploymentRegions), or null), C(organization_arn) and C(organizational_unit_arn)
    (or null), C(public) (a boolean), C(principal) (the target as a launch permission names it,
    the account ID, the ARN, or C(all); null when the target is not valid), C(error) (null, or
    a message) and C(source) (the file and the index of the entry, for messages).
options:
  plugin:
    description: Marks this file as a configuration of this plugin.
    required: true
    type: str
    choices:
      - resource_sharing.aws.app_interface
  data_dir:
    description:
      - The data root of the account files. C($ref) paths are absolute from here.
      - A relative path is relative to the directory of the inventory configuration file.
    required: true
    type: str
notes:
  - The configuration file name must end with C(app_interface.yml) or C(app_interface.yaml).
  - A C($ref) must point straight at an account file; references do not chain.
"""

EXAMPLES = r"""
# inventory.app_interface.yml
plugin: resource_sharing.aws.app_interface
data_dir: data

# A source account file under data/, for example data/aws/image-builder/account.yml:
#
# $schema: /aws/account-1.yml
# name: image-builder
# uid: "123456789012"
# resourcesDefaultRegion: us-east-1
# sharing:
# - provider: ami
#   account:
#     $ref: /aws/stage/account.yml
#   regex: '^service-a-.*$'
#   region: us-west-2
# - provider: ami
#   organization_arn: arn:aws:organizations::123456789012:organization/o-a1b2c3d4e5
#   regex: '^base-'
# - provider: ami
#   organizational_unit_arn: arn:aws:organizations::123456789012:ou/o-a1b2c3d4e5/ou-ab12-cdef3456
#   regex: '^service-b-'
# - provider: ami
#   public: true
#   allow_public: true        # required with public: true
#   regex: '^public-base-'
"""

import functools  # noqa: E402
import os  # noqa: E402
import posixpath  # noqa: E402
import re  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from dataclasses import field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import yaml  # noqa: E402
from ansible.errors import AnsibleParserError  # noqa: E402
from ansible.plugins.inventory import BaseInventoryPlugin  # noqa: E402
from ansible.utils.display import Display  # noqa: E402

display = Display()

ACCOUNT_SCHEMA = "/aws/account-1.yml"
ACCOUNTS_GROUP = "aws_accounts"
SOURCES_GROUP = "ami_share_sources"
INVALID_GROUP = "invalid_account_files"
AMI_PROVIDER = "ami"
KNOWN_PROVIDERS = frozenset({AMI_PROVIDER})

UID_PATTERN = re.compile(r"\A[0-9]{12}\Z")
# The shapes the AWS Organizations API reference gives for organization and OU IDs.
ORGANIZATION_ARN_PATTERN = re.compile(
    r"\Aarn:aws(?:-[a-z]+)*:organizations::[0-9]{12}:organization/o-[a-z0-9]{10,32}\Z"
)
OU_ARN_PATTERN = re.compile(
    r"\Aarn:aws(?:-[a-z]+)*:organizations::[0-9]{12}:"
    r"ou/o-[a-z0-9]{10,32}/ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}\Z"
)
# The keys that name an entry's target; an entry names exactly one of them.
TARGET_KEYS = ("account", "organization_arn", "organizational_unit_arn", "public")
PUBLIC_PRINCIPAL = "all"
REGION_PATTERN = re.compile(r"\A[a-z]{2}(-[a-z]+)+-[0-9]+\Z")
# Account names become inventory host names: keep them to characters host patterns accept.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

try:
    _BaseLoader: Any = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _BaseLoader = yaml.SafeLoader


class _YamlLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """The safe loader, refusing a key given twice in one mapping.

    YAML keeps the last value silently, so a file could show a reviewer one uid or $ref
    and share with another.
    """

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


@dataclass
class Account:
    """One usable account file."""

    file: str
    name: str
    uid: str
    default_region: str
    supported_regions: list[str] | None
    sharing: list[Any]
    # `sharing` written out with no entry: the account shares no AMI, and revocation takes
    # back what it shared.
    shares_nothing: bool = False

    def as_target(self) -> dict[str, Any]:
        """The target description carried by a sharing entry."""
        return {
            "name": self.name,
            "uid": self.uid,
            "resourcesDefaultRegion": self.default_region,
            "supportedDeploymentRegions": self.supported_regions,
        }


@dataclass
class DataRoot:
    """Everything read from a data directory, before it becomes inventory."""

    documents: dict[str, Any] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    invalid_files: dict[str, list[str]] = field(default_factory=dict)
    sharing: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def describe_type(value: Any) -> str:
    """A YAML reader's name for the type of a value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"a {type(value).__name__}"


def find_yaml_files(data_dir: Path) -> list[str]:
    """Paths of the YAML files under data_dir, relative to it, with '/' separators, sorted."""
    found = []
    for directory, subdirectories, files in os.walk(data_dir):
        subdirectories.sort()
        for file_name in files:
            if file_name.endswith((".yml", ".yaml")):
                relative = os.path.relpath(os.path.join(directory, file_name), data_dir)
                found.append(relative.replace(os.sep, "/"))
    return sorted(found)


def load_yaml_file(data_dir: Path, relative: str) -> tuple[Any, str | None]:
    """The document in one file, or None and a message saying why it cannot be read."""
    # A symbolic link under data_dir must not bring in a file from elsewhere.
    if not (data_dir / relative).resolve().is_relative_to(data_dir.resolve()):
        return None, f"{relative}: a symbolic link to a file outside data_dir"
    try:
        text = (data_dir / relative).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, f"{relative}: not UTF-8 text (byte {exc.start})"
    except OSError as exc:
        return None, f"{relative}: cannot be read: {exc.strerror}"

    try:
        return yaml.load(text, Loader=_YamlLoader), None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
        # The parser notices some mistakes (an unclosed quote) only where the file ends; its
        # context names the line where the construct it was reading began.
        context = getattr(exc, "context", None)
        context_mark = getattr(exc, "context_mark", None)
        if context and context_mark and (not mark or context_mark.line != mark.line):
            problem += (
                f" ({context} that starts at line {context_mark.line + 1}, "
                f"column {context_mark.column + 1})"
            )
        return None, f"{relative}: YAML syntax error at {where}: {problem}"


def is_account_document(document: Any) -> bool:
    """Whether a parsed file declares the AWS account schema."""
    return isinstance(document, dict) and document.get("$schema") == ACCOUNT_SCHEMA


def check_region(value: Any) -> str | None:
    """Why value is not a region name, or None when it is one."""
    if not isinstance(value, str):
        return f"must be a region name such as us-east-1, got {describe_type(value)}"
    if not REGION_PATTERN.match(value):
        return f"'{value}' is not a region name (such as us-east-1)"
    return None


def check_uid(value: Any) -> str | None:
    """Why value is not a usable account ID, or None when it is one."""
    if value is None:
        return "missing"
    if isinstance(value, int) and not isinstance(value, bool):
        return (
            f'YAML read it as {describe_type(value)}: quote it (uid: "...") so that it stays '
            "a string of 12 digits and keeps its leading zeros"
        )
    if not isinstance(value, str):
        return f"must be a quoted string of 12 digits, got {describe_type(value)}"
    if not UID_PATTERN.match(value):
        return f"must be exactly 12 digits, got {value!r}"
    return None


def read_account(relative: str, document: dict[str, Any]) -> tuple[Account | None, list[str]]:
    """The account in one account document, or None and every reason it cannot be used."""
    errors = []

    name = document.get("name")
    if name is None:
        errors.append(f"{relative}: name: missing")
    elif not isinstance(name, str) or not NAME_PATTERN.match(name):
        errors.append(
            f"{relative}: name: must be a string of letters, digits, '.', '_' and '-', got {name!r}"
        )

    uid = document.get("uid")
    uid_problem = check_uid(uid)
    if uid_problem:
        errors.append(f"{relative}: uid: {uid_problem}")

    default_region = document.get("resourcesDefaultRegion")
    if default_region is None:
        errors.append(f"{relative}: resourcesDefaultRegion: missing")
    else:
        region_problem = check_region(default_region)
        if region_problem:
            errors.append(f"{relative}: resourcesDefaultRegion: {region_problem}")

    supported_regions = document.get("supportedDeploymentRegions")
    if supported_regions is not None:
        if not isinstance(supported_regions, list):
            errors.append(
                f"{relative}: supportedDeploymentRegions: must be a list of region names, "
                f"got {describe_type(supported_regions)}"
            )
        else:
            for index, region in enumerate(supported_regions):
                region_problem = check_region(region)
                if region_problem:
                    errors.append(
                        f"{relative}: supportedDeploymentRegions[{index}]: {region_problem}"
                    )

    sharing = document.get("sharing")
    if sharing is None:
        sharing = []
    elif not isinstance(sharing, list):
        errors.append(f"{relative}: sharing: must be a list, got {describe_type(sharing)}")

    if errors:
        return None, errors
    # `sharing:` left with no entries reads as null; both say the account shares no AMI.
    shares_nothing = "sharing" in document and document["sharing"] in (None, [])
    account = Account(
        relative, name, uid, default_region, supported_regions, sharing, shares_nothing
    )
    return account, []


def find_duplicate_accounts(accounts: dict[str, Account]) -> dict[str, list[str]]:
    """Messages for every file whose account name or uid another file also uses."""
    errors: dict[str, list[str]] = {}
    for attribute in ("name", "uid"):
        holders: dict[str, list[str]] = {}
        for relative, account in accounts.items():
            holders.setdefault(getattr(account, attribute), []).append(relative)
        for value, files in holders.items():
            if len(files) < 2:
                continue
            for relative in files:
                others = ", ".join(other for other in files if other != relative)
                errors.setdefault(relative, []).append(
                    f"{relative}: {attribute}: '{value}' is also used by {others}"
                )
    return errors


def resolve_reference(
    prefix: str, reference: Any, root: DataRoot
) -> tuple[Account | None, str | None]:
    """The account an entry's account.$ref points at, or None and the reason."""
    where = f"{prefix}.account.$ref"
    if reference is None:
        return None, f"{where}: missing"
    if not isinstance(reference, str):
        return None, f"{where}: must be a string, got {describe_type(reference)}"
    if not reference.startswith("/"):
        return None, f"{where}: '{reference}' must be absolute from the data directory (start /)"

    relative = posixpath.normpath(reference.lstrip("/"))
    if relative == ".." or relative.startswith("../"):
        return None, f"{where}: '{reference}' points outside the data directory"
    if relative in root.invalid_files:
        return (
            None,
            f"{where}: '{reference}' points to an account file that cannot be used "
            "(see the error reported for it)",
        )
    if relative in root.accounts:
        return root.accounts[relative], None
    if relative not in root.documents:
        return None, f"{where}: '{reference}': no such file in the data directory"

    document = root.documents[relative]
    if isinstance(document, dict) and set(document) == {"$ref"}:
        return None, (
            f"{where}: '{reference}' holds only another $ref ({document['$ref']!r}); "
            "references do not chain: point at the account file itself"
        )
    schema = document.get("$schema") if isinstance(document, dict) else None
    return None, f"{where}: '{reference}' is not an AWS account file ($schema: {schema!r})"


def check_regex(prefix: str, regex: Any) -> str | None:
    """Why an entry's regex cannot select images, or None when it can."""
    where = f"{prefix}.regex"
    if regex is None:
        return f"{where}: missing"
    if not isinstance(regex, str):
        return f"{where}: must be a string, got {describe_type(regex)}"
    if not regex.strip():
        return f"{where}: must not be empty (write '^.*$' to share every image)"
    try:
        re.compile(regex)
    except re.error as exc:
        return f"{where}: invalid regular expression: {exc}"
    return None


def resolve_account_target(
    source: Account, prefix: str, target_ref: Any, root: DataRoot
) -> tuple[Account | None, str | None]:
    """The account an entry's `account` names, or None and why it cannot be used."""
    if not isinstance(target_ref, dict):
        problem = "missing" if target_ref is None else f"got {describe_type(target_ref)}"
        return None, f"{prefix}.account: must be a mapping with a $ref, {problem}"
    target, problem = resolve_reference(prefix, target_ref.get("$ref"), root)
    if problem:
        return None, problem
    if target is not None and target.uid == source.uid:
        return None, f"{prefix}.account: the target is the source account itself ({source.uid})"
    return target, None


def check_arn(
    prefix: str, key: str, value: Any, pattern: re.Pattern[str], shape: str
) -> str | None:
    """Why an entry's organization or OU ARN is not one, or None when it is."""
    if not isinstance(value, str):
        return f"{prefix}.{key}: must be {shape}, got {describe_type(value)}"
    if not pattern.match(value):
        return f"{prefix}.{key}: {value!r} is not {shape}"
    return None


def resolve_target(
    source: Account, prefix: str, declared: dict[str, Any], root: DataRoot
) -> tuple[dict[str, Any], Account | None, list[str]]:
    """An entry's target fields, its target account if it names one, and every problem."""
    named = [key for key in TARGET_KEYS if key in declared]
    allow_public = declared.get("allow_public", False)
    problems = []
    if not isinstance(allow_public, bool):
        problems.append(
            f"{prefix}.allow_public: must be true or false, got {describe_type(allow_public)}"
        )
    if len(named) > 1:
        message = f"{prefix}: names {' and '.join(named)}; an entry has exactly one target"
        return {}, None, [*problems, message]
    if not named or named == ["account"]:
        target, problem = resolve_account_target(source, prefix, declared.get("account"), root)
        if problem and not named:
            problem += " (or give organization_arn, organizational_unit_arn or public instead)"
        if allow_public is True:
            problems.append(f"{prefix}.allow_public: goes only with public: true")
        if target is None:
            return {}, None, [*problems, problem] if problem else problems
        return {"account": target.as_target(), "principal": target.uid}, target, problems

    key = named[0]
    value = declared[key]
    if allow_public is True and key != "public":
        problems.append(f"{prefix}.allow_public: goes only with public: true")
    if key == "public":
        if value is not True:
            return (
                {},
                None,
                [
                    *problems,
                    f"{prefix}.public: must be true (leave it out to share with no one), "
                    f"got {describe_type(value)}",
                ],
            )
        if allow_public is not True:
            return (
                {},
                None,
                [
                    *problems,
                    f"{prefix}.allow_public: public sharing makes the images launchable by every "
                    "AWS account; it needs allow_public: true on the entry as well",
                ],
            )
        return {"public": True, "principal": PUBLIC_PRINCIPAL}, None, problems

    pattern, shape = {
        "organization_arn": (
            ORGANIZATION_ARN_PATTERN,
            "an organization ARN (arn:aws:organizations::<account>:organization/o-<id>)",
        ),
        "organizational_unit_arn": (
            OU_ARN_PATTERN,
            "an OU ARN (arn:aws:organizations::<account>:ou/o-<id>/ou-<id>)",
        ),
    }[key]
    problem = check_arn(prefix, key, value, pattern, shape)
    if problem:
        return {}, None, [*problems, problem]
    return {key: value, "principal": value}, None, problems


def resolve_entry(
    source: Account, index: int, declared: Any, root: DataRoot
) -> dict[str, Any] | None:
    """One sharing entry as host data, or None for a provider this collection does not know."""
    prefix = f"{source.file}: sharing[{index}]"
    entry: dict[str, Any] = {
        "provider": None,
        "regex": None,
        "region": None,
        "account": None,
        "organization_arn": None,
        "organizational_unit_arn": None,
        "public": False,
        "principal": None,
        "error": None,
        "source": prefix,
    }
    if not isinstance(declared, dict):
        entry["error"] = f"{prefix}: must be a mapping, got {describe_type(declared)}"
        return entry

    errors = []

    provider = declared.get("provider")
    if provider is None:
        errors.append(f"{prefix}.provider: missing")
    elif not isinstance(provider, str):
        errors.append(f"{prefix}.provider: must be a string, got {describe_type(provider)}")
    elif provider not in KNOWN_PROVIDERS and provider.strip().lower() in KNOWN_PROVIDERS:
        # A near miss is a declaration gone wrong, not another provider's entry: it must
        # stop revocation for this source like any other invalid entry.
        errors.append(
            f"{prefix}.provider: '{provider}' is not a provider; did you mean "
            f"'{provider.strip().lower()}'?"
        )
    elif provider not in KNOWN_PROVIDERS:
        root.warnings.append(f"{prefix}.provider: unknown provider '{provider}', entry skipped")
        return None
    else:
        entry["provider"] = provider

    fields, target, problems = resolve_target(source, prefix, declared, root)
    errors.extend(problems)
    entry.update(fields)

    regex = declared.get("regex")
    regex_problem = check_regex(prefix, regex)
    if regex_problem:
        errors.append(regex_problem)
    else:
        entry["regex"] = regex

    region = declared.get("region")
    if region is not None:
        region_problem = check_region(region)
        if region_problem:
            errors.append(f"{prefix}.region: {region_problem}")
        else:
            entry["region"] = region
    effective = region if region is not None else source.default_region
    known = known_ec2_regions()
    if not errors and known is not None and effective not in known:
        field_name = "region" if region is not None else "region (from resourcesDefaultRegion)"
        errors.append(
            f"{prefix}.{field_name}: '{effective}' is not an EC2 region that the installed "
            "botocore knows; check the name, or upgrade botocore if the region is new"
        )
    supported = target.supported_regions if target is not None else None
    if supported is not None and not errors and effective not in supported:
        origin = "" if region is not None else " (the source's resourcesDefaultRegion)"
        errors.append(
            f"{prefix}.region: {effective}{origin} is not among the supportedDeploymentRegions "
            f"of {target.file} ({', '.join(target.supported_regions)})"
        )

    entry["error"] = "; ".join(errors) or None
    return entry


@functools.cache
def known_ec2_regions() -> frozenset[str] | None:
    """Every EC2 region of every partition botocore knows, or None without botocore.

    The module refuses the others before any call; checking here makes such an entry
    invalid, so that it also stops revocation for its source.
    """
    try:
        import botocore.session  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    session = botocore.session.get_session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("ec2", partition_name=partition)
    )


def target_name(entry: dict[str, Any]) -> str:
    """How messages name an entry's target: the account's name, the ARN, or 'public'."""
    if entry["account"]:
        return entry["account"]["name"]
    return "public" if entry["public"] else entry["principal"]


def resolve_sharing(source: Account, root: DataRoot) -> list[dict[str, Any]]:
    """The sharing entries of one account, resolved, with duplicates marked as errors."""
    entries = []
    seen: dict[tuple[str, str, str], int] = {}
    for index, declared in enumerate(source.sharing):
        entry = resolve_entry(source, index, declared, root)
        if entry is None:
            continue
        if entry["error"] is None:
            region = entry["region"] or source.default_region
            key = (entry["principal"], region, entry["regex"])
            if key in seen:
                entry["error"] = (
                    f"{entry['source']}: duplicate of sharing[{seen[key]}] "
                    f"(same target {target_name(entry)}, region {region} and regex)"
                )
            else:
                seen[key] = index
        entries.append(entry)
    return entries


def read_data_root(data_dir: Path) -> DataRoot:
    """Read, validate and resolve every account file under data_dir."""
    root = DataRoot()

    for relative in find_yaml_files(data_dir):
        document, problem = load_yaml_file(data_dir, relative)
        if problem:
            root.invalid_files[relative] = [problem]
        else:
            root.documents[relative] = document

    for relative, document in root.documents.items():
        if not is_account_document(document):
            continue
        account, errors = read_account(relative, document)
        if account is None:
            root.invalid_files[relative] = errors
        else:
            root.accounts[relative] = account

    for relative, errors in find_duplicate_accounts(root.accounts).items():
        root.invalid_files[relative] = errors
        del root.accounts[relative]

    for relative, account in root.accounts.items():
        root.sharing[relative] = resolve_sharing(account, root)
    return root


class InventoryModule(BaseInventoryPlugin):
    """One inventory host per AWS account file, with its AMI shares resolved."""

    NAME = "resource_sharing.aws.app_interface"

    def verify_file(self, path: str) -> bool:
        """Accept only configuration files named for this plugin."""
        return super().verify_file(path) and path.endswith(
            ("app_interface.yml", "app_interface.yaml")
        )

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        """Read the account files named by the configuration at path into the inventory."""
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        data_dir = Path(os.path.dirname(os.path.abspath(path))) / str(self.get_option("data_dir"))
        if not data_dir.is_dir():
            raise AnsibleParserError(f"{path}: data_dir: {data_dir} is not a directory")

        root = read_data_root(data_dir)

        self.populate(root)
        for message in root.warnings:
            display.warning(message)

    def populate(self, root: DataRoot) -> None:
        """Add the accounts, their shares and the unusable files to the inventory."""
        for group in (ACCOUNTS_GROUP, SOURCES_GROUP, INVALID_GROUP):
            self.inventory.add_group(group)

        for relative, account in root.accounts.items():
            host = self.inventory.add_host(account.name, group=ACCOUNTS_GROUP)
            entries = root.sharing[relative]
            self.inventory.set_variable(host, "aws_account_uid", account.uid)
            self.inventory.set_variable(host, "aws_default_region", account.default_region)
            self.inventory.set_variable(host, "aws_supported_regions", account.supported_regions)
            self.inventory.set_variable(host, "sharing", entries)
            if entries or account.shares_nothing:
                self.inventory.add_child(SOURCES_GROUP, host)
            for entry in entries:
                if entry["error"]:
                    display.warning(entry["error"])

        for relative, errors in sorted(root.invalid_files.items()):
            host = self.inventory.add_host(relative, group=INVALID_GROUP)
            self.inventory.set_variable(host, "aws_account_file_errors", errors)
            for message in errors:
                display.warning(message)
