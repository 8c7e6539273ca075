# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the resource_sharing.aws project

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.resource_sharing.aws.plugins.inventory.app_interface import DataRoot
from ansible_collections.resource_sharing.aws.plugins.inventory.app_interface import read_data_root

REPO = Path(__file__).resolve().parents[4]
FIXTURES = REPO / "tests" / "fixtures" / "app_interface"
EXAMPLE = REPO / "examples" / "app-interface"
BUILDER = "aws/builder/account.yml"


@pytest.fixture(scope="module")
def entries_root() -> DataRoot:
    return read_data_root(FIXTURES / "entries")


@pytest.fixture(scope="module")
def files_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files data root, with the file that is not valid YAML put in place."""
    copy = tmp_path_factory.mktemp("app_interface") / "files"
    shutil.copytree(FIXTURES / "files", copy)
    broken = copy / "aws" / "yaml-error" / "account.yml"
    broken.parent.mkdir()
    shutil.copyfile(FIXTURES / "yaml-syntax-error.yml.txt", broken)
    (copy.parent / "files.app_interface.yml").write_text(
        (FIXTURES / "files.app_interface.yml").read_text()
    )
    return copy


@pytest.fixture(scope="module")
def files_root(files_dir: Path) -> DataRoot:
    return read_data_root(files_dir)


def builder_entry(root: DataRoot, index: int) -> dict[str, Any]:
    """The resolved builder entry declared at index (unknown providers leave gaps)."""
    prefix = f"{BUILDER}: sharing[{index}]"
    matches = [entry for entry in root.sharing[BUILDER] if entry["source"] == prefix]
    assert len(matches) == 1, f"no entry {prefix}"
    return matches[0]


def run_inventory(config: Path) -> tuple[dict[str, Any], str]:
    """ansible-inventory --list over one configuration: the inventory and the warnings."""
    environment = dict(os.environ, AWS_EC2_METADATA_DISABLED="true", ANSIBLE_NOCOLOR="1")
    environment["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(config), "--list"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout), completed.stderr


def plain(value: Any) -> Any:
    """Drop the trust markers that ansible-inventory writes around strings."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


# Good entries


def test_resolves_good_entry_with_target_and_declared_region(entries_root: DataRoot) -> None:
    assert builder_entry(entries_root, 0) == {
        "provider": "ami",
        "regex": "^service-a-.*$",
        "region": None,
        "account": {
            "name": "stage",
            "uid": "222222222222",
            "resourcesDefaultRegion": "us-east-1",
            "supportedDeploymentRegions": ["us-east-1", "eu-west-1"],
        },
        "organization_arn": None,
        "organizational_unit_arn": None,
        "public": False,
        "principal": "222222222222",
        "error": None,
        "source": "aws/builder/account.yml: sharing[0]",
    }


def test_accepts_any_region_when_target_lists_none(entries_root: DataRoot) -> None:
    entry = builder_entry(entries_root, 1)
    assert entry["error"] is None
    assert entry["region"] == "us-west-2"
    assert entry["account"]["uid"] == "012345678901"
    assert entry["account"]["supportedDeploymentRegions"] is None


def test_normalises_dot_dot_that_stays_inside_data_dir(entries_root: DataRoot) -> None:
    entry = builder_entry(entries_root, 27)
    assert entry["error"] is None
    assert entry["account"]["name"] == "stage"


def test_good_entries_survive_bad_siblings(entries_root: DataRoot) -> None:
    good = [entry["source"] for entry in entries_root.sharing[BUILDER] if entry["error"] is None]
    assert good == [f"{BUILDER}: sharing[{index}]" for index in (0, 1, 27)]


def test_skips_unknown_provider_with_warning(entries_root: DataRoot) -> None:
    sources = [entry["source"] for entry in entries_root.sharing[BUILDER]]
    assert f"{BUILDER}: sharing[2]" not in sources
    assert entries_root.warnings == [
        "aws/builder/account.yml: sharing[2].provider: unknown provider 'rds', entry skipped"
    ]


# Bad entries: each keeps its place with an error naming file, index and field.

ENTRY_ERRORS = {
    3: "sharing[3].provider: missing",
    4: "sharing[4].provider: must be a string, got a list",
    5: "sharing[5].account: must be a mapping with a $ref, missing (or give organization_arn, "
    "organizational_unit_arn or public instead)",
    6: "sharing[6].account: must be a mapping with a $ref, got the string '/aws/stage/account.yml'",
    7: "sharing[7].account.$ref: missing",
    8: "sharing[8].account.$ref: must be a string, got the number 42",
    9: "sharing[9].account.$ref: 'aws/stage/account.yml' must be absolute from the data "
    "directory (start /)",
    10: "sharing[10].account.$ref: '/aws/qa/account.yml': no such file in the data directory",
    11: "sharing[11].account.$ref: '/../outside-account.yml' points outside the data directory",
    12: "sharing[12].account.$ref: '/teams/service-a.yml' is not an AWS account file "
    "($schema: '/access/team-1.yml')",
    13: "sharing[13].account.$ref: '/aws/alias-a.yml' holds only another $ref "
    "('/aws/alias-b.yml'); references do not chain: point at the account file itself",
    14: "sharing[14].account.$ref: '/aws/broken/account.yml' points to an account file that "
    "cannot be used (see the error reported for it)",
    15: "sharing[15].account: the target is the source account itself (111111111111)",
    16: "sharing[16].regex: missing",
    17: "sharing[17].regex: must not be empty (write '^.*$' to share every image)",
    18: "sharing[18].regex: must be a string, got the number 5",
    19: "sharing[19].regex: invalid regular expression: unterminated character set at position 0",
    20: "sharing[20].region: 'us_east_1' is not a region name (such as us-east-1)",
    21: "sharing[21].region: must be a region name such as us-east-1, got the number 1",
    22: "sharing[22].region: us-west-2 is not among the supportedDeploymentRegions of "
    "aws/stage/account.yml (us-east-1, eu-west-1)",
    23: "sharing[23].region: us-east-1 (the source's resourcesDefaultRegion) is not among the "
    "supportedDeploymentRegions of aws/eu/account.yml (eu-west-1)",
    24: "sharing[24]: duplicate of sharing[0] (same target stage, region us-east-1 and regex)",
    25: "sharing[25]: must be a mapping, got the string 'ami'",
    28: "sharing[28].account.$ref: '/aws/stage': no such file in the data directory",
}


@pytest.mark.parametrize(("index", "message"), sorted(ENTRY_ERRORS.items()))
def test_reports_bad_entry_by_file_index_and_field(
    entries_root: DataRoot, index: int, message: str
) -> None:
    assert builder_entry(entries_root, index)["error"] == f"{BUILDER}: {message}"


def test_reports_every_problem_of_one_entry(entries_root: DataRoot) -> None:
    assert builder_entry(entries_root, 26)["error"] == (
        f"{BUILDER}: sharing[26].regex: invalid regular expression: missing ), unterminated "
        f"subpattern at position 0; {BUILDER}: sharing[26].region: 'moon-1' is not a region "
        "name (such as us-east-1)"
    )


def test_never_reads_a_file_outside_data_dir(entries_root: DataRoot) -> None:
    names = {account.name for account in entries_root.accounts.values()}
    assert "outside" not in names
    assert builder_entry(entries_root, 11)["account"] is None


def test_bad_entry_carries_no_target(entries_root: DataRoot) -> None:
    for index in (5, 10, 14, 15):
        assert builder_entry(entries_root, index)["account"] is None


def test_keeps_valid_fields_of_bad_entry(entries_root: DataRoot) -> None:
    entry = builder_entry(entries_root, 22)
    assert entry["regex"] == "^service-a-.*$"
    assert entry["region"] == "us-west-2"
    assert entry["account"]["name"] == "stage"


# Bad files: the account cannot be used at all.

FILE_ERRORS = {
    "aws/yaml-error/account.yml": [
        "aws/yaml-error/account.yml: YAML syntax error at line 11, column 8: "
        "did not find expected ',' or '}' (while parsing a flow mapping that starts at line 10, "
        "column 12)"
    ],
    "aws/uid-missing/account.yml": ["aws/uid-missing/account.yml: uid: missing"],
    "aws/uid-number/account.yml": [
        "aws/uid-number/account.yml: uid: YAML read it as the number 123456789012: quote it "
        '(uid: "...") so that it stays a string of 12 digits and keeps its leading zeros'
    ],
    "aws/uid-octal/account.yml": [
        "aws/uid-octal/account.yml: uid: YAML read it as the number 1402433619: quote it "
        '(uid: "...") so that it stays a string of 12 digits and keeps its leading zeros'
    ],
    "aws/uid-short/account.yml": [
        "aws/uid-short/account.yml: uid: must be exactly 12 digits, got '12345'"
    ],
    "aws/uid-letters/account.yml": [
        "aws/uid-letters/account.yml: uid: must be exactly 12 digits, got '12345678901a'"
    ],
    "aws/sharing-mapping/account.yml": [
        "aws/sharing-mapping/account.yml: sharing: must be a list, got a mapping"
    ],
    "aws/name-missing/account.yml": ["aws/name-missing/account.yml: name: missing"],
    "aws/region-missing/account.yml": [
        "aws/region-missing/account.yml: resourcesDefaultRegion: missing"
    ],
    "aws/supported-not-list/account.yml": [
        "aws/supported-not-list/account.yml: supportedDeploymentRegions: must be a list of "
        "region names, got the string 'us-east-1'"
    ],
    "aws/same-name-1/account.yml": [
        "aws/same-name-1/account.yml: name: 'twin' is also used by aws/same-name-2/account.yml"
    ],
    "aws/same-name-2/account.yml": [
        "aws/same-name-2/account.yml: name: 'twin' is also used by aws/same-name-1/account.yml"
    ],
    "aws/same-uid-1/account.yml": [
        "aws/same-uid-1/account.yml: uid: '999999999999' is also used by aws/same-uid-2/account.yml"
    ],
    "aws/same-uid-2/account.yml": [
        "aws/same-uid-2/account.yml: uid: '999999999999' is also used by aws/same-uid-1/account.yml"
    ],
}


@pytest.mark.parametrize(("relative", "messages"), sorted(FILE_ERRORS.items()))
def test_reports_unusable_account_file(
    files_root: DataRoot, relative: str, messages: list[str]
) -> None:
    assert files_root.invalid_files[relative] == messages
    assert relative not in files_root.accounts


def test_reports_exactly_the_unusable_files(files_root: DataRoot) -> None:
    assert sorted(files_root.invalid_files) == sorted(FILE_ERRORS)
    assert sorted(files_root.accounts) == [
        "aws/good/account.yml",
        "aws/leading-zero/account.yml",
    ]


def test_keeps_leading_zeros_of_quoted_uid(files_root: DataRoot) -> None:
    assert files_root.accounts["aws/leading-zero/account.yml"].uid == "000000000042"
    first = files_root.sharing["aws/good/account.yml"][0]
    assert first["error"] is None
    assert first["account"]["uid"] == "000000000042"


def test_share_into_unusable_file_fails_alone(files_root: DataRoot) -> None:
    second = files_root.sharing["aws/good/account.yml"][1]
    assert second["error"] == (
        "aws/good/account.yml: sharing[1].account.$ref: '/aws/yaml-error/account.yml' points to "
        "an account file that cannot be used (see the error reported for it)"
    )


def test_ignores_files_of_other_schemas_and_shapes(files_root: DataRoot) -> None:
    assert "aws/list.yml" in files_root.documents
    assert "aws/list.yml" not in files_root.invalid_files
    assert "aws/list.yml" not in files_root.accounts


# Through ansible-inventory, as a playbook sees it


def test_example_inventory_hosts_groups_and_vars() -> None:
    inventory, warnings = run_inventory(EXAMPLE / "inventory.app_interface.yml")

    assert warnings.strip() == ""
    assert sorted(inventory["aws_accounts"]["hosts"]) == ["image-builder", "prod", "stage"]
    assert inventory["ami_share_sources"]["hosts"] == ["image-builder"]
    assert "hosts" not in inventory.get("invalid_account_files", {})
    builder = plain(inventory["_meta"]["hostvars"]["image-builder"])
    assert sorted(builder) == [
        "aws_account_uid",
        "aws_default_region",
        "aws_supported_regions",
        "sharing",
    ]
    assert builder["aws_account_uid"] == "123456789012"
    assert builder["aws_default_region"] == "us-east-1"
    assert [
        (entry["account"]["name"], entry["account"]["uid"], entry["region"], entry["regex"])
        for entry in builder["sharing"]
    ] == [
        ("stage", "210987654321", None, "^service-a-.*$"),
        ("stage", "210987654321", "us-west-2", "^service-a-.*$"),
        ("prod", "012345678901", None, "^service-a-.*$"),
    ]
    prod = plain(inventory["_meta"]["hostvars"]["prod"])
    assert prod["aws_account_uid"] == "012345678901"
    assert prod["sharing"] == []


def test_never_copies_other_fields_into_host_vars() -> None:
    inventory, _warnings = run_inventory(EXAMPLE / "inventory.app_interface.yml")
    listed = json.dumps(inventory)
    for ignored in ("automationToken", "accountOwners", "app-sre/creds", "cleanup"):
        assert ignored not in listed


def test_unusable_files_become_hosts_of_invalid_group_and_warnings(files_dir: Path) -> None:
    inventory, warnings = run_inventory(files_dir.parent / "files.app_interface.yml")

    assert sorted(inventory["invalid_account_files"]["hosts"]) == sorted(FILE_ERRORS)
    assert sorted(inventory["aws_accounts"]["hosts"]) == ["good", "leading-zero"]
    hostvars = plain(inventory["_meta"]["hostvars"])
    for relative, messages in FILE_ERRORS.items():
        assert hostvars[relative]["aws_account_file_errors"] == messages
    flat_warnings = " ".join(warnings.split())
    assert "aws/uid-short/account.yml: uid: must be exactly 12 digits" in flat_warnings
    assert "aws/good/account.yml: sharing[1].account.$ref" in flat_warnings


def test_bad_entries_are_warned_and_keep_host_in_sources() -> None:
    inventory, warnings = run_inventory(FIXTURES / "entries.app_interface.yml")

    assert inventory["ami_share_sources"]["hosts"] == ["builder"]
    flat_warnings = " ".join(warnings.split())
    assert "unknown provider 'rds', entry skipped" in flat_warnings
    assert "aws/builder/account.yml: sharing[17].regex: must not be empty" in flat_warnings
    assert inventory["invalid_account_files"]["hosts"] == ["aws/broken/account.yml"]


def test_data_dir_that_is_missing_fails_the_inventory(tmp_path: Path) -> None:
    config = tmp_path / "missing.app_interface.yml"
    config.write_text("plugin: resource_sharing.aws.app_interface\ndata_dir: nowhere\n")
    inventory, warnings = run_inventory(config)

    assert "nowhere is not a directory" in " ".join(warnings.split())
    assert "aws_accounts" not in inventory


def test_ignores_config_files_named_otherwise(tmp_path: Path) -> None:
    config = tmp_path / "accounts.yml"
    config.write_text(f"plugin: resource_sharing.aws.app_interface\ndata_dir: {EXAMPLE}/data\n")
    inventory, _warnings = run_inventory(config)

    assert "aws_accounts" not in inventory


def account_file(name: str, uid: str, extra: str = "") -> str:
    return (
        f'$schema: /aws/account-1.yml\nname: {name}\nuid: "{uid}"\n'
        f"resourcesDefaultRegion: us-east-1\n{extra}"
    )


def test_refuses_a_key_given_twice_rather_than_keeping_the_last(tmp_path: Path) -> None:
    (tmp_path / "aws").mkdir()
    (tmp_path / "aws" / "a.yml").write_text(
        account_file("a", "100000000001", 'uid: "100000000003"\n')
    )

    root = read_data_root(tmp_path)

    assert root.invalid_files["aws/a.yml"] == [
        "aws/a.yml: YAML syntax error at line 5, column 1: the key 'uid' is given twice"
    ]


def test_refuses_a_symbolic_link_to_a_file_outside_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "aws").mkdir(parents=True)
    (tmp_path / "outside.yml").write_text(account_file("outsider", "999999999999"))
    (data / "aws" / "evil.yml").symlink_to(tmp_path / "outside.yml")

    root = read_data_root(data)

    assert root.invalid_files["aws/evil.yml"] == [
        "aws/evil.yml: a symbolic link to a file outside data_dir"
    ]
    assert root.accounts == {}


def test_refuses_a_uid_with_a_trailing_newline(tmp_path: Path) -> None:
    (tmp_path / "aws").mkdir()
    (tmp_path / "aws" / "nl.yml").write_text(account_file("nl", "400000000009\\n"))

    root = read_data_root(tmp_path)

    assert root.invalid_files["aws/nl.yml"] == [
        "aws/nl.yml: uid: must be exactly 12 digits, got '400000000009\\n'"
    ]


# Organization, OU and public targets

ORG = "arn:aws:organizations::111111111111:organization/o-a1b2c3d4e5"
OU = "arn:aws:organizations::111111111111:ou/o-a1b2c3d4e5/ou-a1b2-c3d4e5f6"
ORG_SHAPE = "an organization ARN (arn:aws:organizations::<account>:organization/o-<id>)"


@pytest.fixture(scope="module")
def organizations_root() -> DataRoot:
    return read_data_root(FIXTURES / "organizations")


def test_resolves_organization_ou_and_allowed_public_targets(organizations_root: DataRoot) -> None:
    org, ou, public = (builder_entry(organizations_root, index) for index in (0, 1, 2))

    assert (org["error"], org["organization_arn"], org["principal"], org["account"]) == (
        None,
        ORG,
        ORG,
        None,
    )
    assert (ou["error"], ou["organizational_unit_arn"], ou["principal"], ou["region"]) == (
        None,
        OU,
        OU,
        "eu-west-1",
    )
    assert (public["error"], public["public"], public["principal"]) == (None, True, "all")


def test_the_account_level_organization_field_is_accepted_and_ignored(
    organizations_root: DataRoot,
) -> None:
    assert "aws/builder/account.yml" in organizations_root.accounts
    assert BUILDER not in organizations_root.invalid_files


ORGANIZATION_ENTRY_ERRORS = {
    3: "sharing[3].allow_public: public sharing makes the images launchable by every AWS "
    "account; it needs allow_public: true on the entry as well",
    4: "sharing[4].allow_public: public sharing makes the images launchable by every AWS "
    "account; it needs allow_public: true on the entry as well",
    5: "sharing[5]: names account and organization_arn; an entry has exactly one target",
    6: f"sharing[6].organization_arn: '{ORG[:-6]}' is not {ORG_SHAPE}",
    7: f"sharing[7].organization_arn: '{OU}' is not {ORG_SHAPE}",
    8: f"sharing[8].organization_arn: '{ORG}\\n' is not {ORG_SHAPE}",
    9: "sharing[9].organizational_unit_arn: must be an OU ARN "
    "(arn:aws:organizations::<account>:ou/o-<id>/ou-<id>), got the number 42",
    10: "sharing[10].allow_public: goes only with public: true",
    11: "sharing[11].public: must be true (leave it out to share with no one), got a boolean",
    12: "sharing[12].allow_public: must be true or false, got the string 'yes'; "
    "aws/builder/account.yml: sharing[12].allow_public: public sharing makes the images "
    "launchable by every AWS account; it needs allow_public: true on the entry as well",
    13: f"sharing[13]: duplicate of sharing[0] (same target {ORG}, region us-east-1 and regex)",
    14: "sharing[14].account: must be a mapping with a $ref, missing (or give organization_arn, "
    "organizational_unit_arn or public instead)",
}


@pytest.mark.parametrize(("index", "message"), sorted(ORGANIZATION_ENTRY_ERRORS.items()))
def test_reports_bad_organization_and_public_entries_by_file_index_and_field(
    organizations_root: DataRoot, index: int, message: str
) -> None:
    entry = builder_entry(organizations_root, index)

    assert entry["error"] == f"{BUILDER}: {message}"
    # A refused target is not carried; entry 10's account and 13's organization are valid.
    if index not in (10, 13):
        assert entry["principal"] is None


def write_accounts(root: Path, builder_sharing: str) -> Path:
    """A data root with a builder (sharing as given, YAML text) and a stage account."""
    for name, uid, sharing in (
        ("builder", "111111111111", builder_sharing),
        ("stage", "222222222222", ""),
    ):
        account = root / "aws" / name / "account.yml"
        account.parent.mkdir(parents=True)
        account.write_text(
            f"$schema: /aws/account-1.yml\nname: {name}\nuid: '{uid}'\n"
            f"resourcesDefaultRegion: us-east-1\n{sharing}"
        )
    return root


@pytest.mark.parametrize("provider", ["AMI", "'ami '", "Ami"])
def test_a_provider_that_is_ami_but_for_case_or_spaces_is_an_invalid_entry(
    tmp_path: Path, provider: str
) -> None:
    sharing = (
        f"sharing:\n- provider: {provider}\n  account:\n    $ref: /aws/stage/account.yml\n"
        "  regex: '^web-'\n"
    )
    root = read_data_root(write_accounts(tmp_path, sharing))

    (entry,) = root.sharing[BUILDER]
    assert entry["error"].startswith(f"{BUILDER}: sharing[0].provider: ")
    assert "did you mean 'ami'?" in entry["error"]
    assert root.warnings == []


@pytest.mark.parametrize(
    ("region_line", "field"),
    [("  region: us-east-9\n", "region"), ("", "region (from resourcesDefaultRegion)")],
)
def test_a_region_botocore_does_not_know_is_an_invalid_entry(
    tmp_path: Path, region_line: str, field: str
) -> None:
    sharing = (
        "sharing:\n- provider: ami\n  account:\n    $ref: /aws/stage/account.yml\n"
        f"  regex: '^web-'\n{region_line}"
    )
    data = write_accounts(tmp_path, sharing)
    if not region_line:
        builder = data / "aws" / "builder" / "account.yml"
        builder.write_text(builder.read_text().replace("us-east-1", "us-east-9"))

    (entry,) = read_data_root(data).sharing[BUILDER]

    assert entry["error"] == (
        f"{BUILDER}: sharing[0].{field}: 'us-east-9' is not an EC2 region that the installed "
        "botocore knows; check the name, or upgrade botocore if the region is new"
    )


@pytest.mark.parametrize("sharing", ["sharing: []\n", "sharing:\n"])
def test_an_account_whose_sharing_key_has_no_entry_is_a_source(
    tmp_path: Path, sharing: str
) -> None:
    data = write_accounts(tmp_path / "data", sharing)
    config = tmp_path / "inventory.app_interface.yml"
    config.write_text(f"plugin: resource_sharing.aws.app_interface\ndata_dir: {data}\n")

    inventory = run_inventory(config)[0]

    # stage has no sharing key at all, so it is not a source; builder declared that it shares
    # nothing, so revocation runs for it.
    assert inventory["ami_share_sources"]["hosts"] == ["builder"]
    assert inventory["_meta"]["hostvars"]["builder"]["sharing"] == []
