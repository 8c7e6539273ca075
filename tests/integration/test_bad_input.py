"""A catalogue of bad inputs, end to end: each is named by file, entry index and field,
makes no mutating AWS call, and stops nothing else (issue 4).

One playbook run over tests/fixtures/integration/bad-input covers every case: the entry
cases sit in the sharing list of aws/builder/account.yml, the file cases are files of
their own. The run's output and the local AWS's per-image call counts are then checked
case by case.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest
from harness import FIXTURES
from harness import run_playbook
from harness import start_local_aws

CATALOGUE = FIXTURES / "bad-input"
SEED = CATALOGUE / "local-aws-seed.yml"
BUILDER, STAGE, PROD = "100000000001", "200000000002", "000000000003"
BUILDER_FILE = "aws/builder/account.yml"
MUTATING = {"ec2:ModifyImageAttribute", "ec2:CreateTags", "ec2:DeleteTags"}
STAGE_OWN_TAGS = {f"stage-{n}": "own" for n in range(5)}

# (case, host whose failure names it, the message, the images it must leave alone)
ENTRY_CASES = [
    ("provider missing", 2, "sharing[2].provider: missing"),
    ("invalid regex", 3, "sharing[3].regex: invalid regular expression: "),
    ("empty regex", 4, "sharing[4].regex: must not be empty"),
    ("regex missing", 5, "sharing[5].regex: missing"),
    ("regex not a string", 6, "sharing[6].regex: must be a string, got the number 5"),
    ("region not a region name", 7, "sharing[7].region: 'useast1' is not a region name"),
    (
        "region outside the target's supportedDeploymentRegions",
        8,
        "sharing[8].region: eu-west-1 is not among the supportedDeploymentRegions of "
        "aws/stage/account.yml (us-east-1, us-west-2)",
    ),
    ("target equal to source", 9, "sharing[9].account: the target is the source account itself"),
    ("duplicate entry", 10, "sharing[10]: duplicate of sharing[0] (same target stage"),
    (
        "$ref to a missing file",
        11,
        "sharing[11].account.$ref: '/aws/nowhere/account.yml': no such file in the data",
    ),
    (
        "$ref outside data_dir",
        12,
        "sharing[12].account.$ref: '/../outside/account.yml' points outside the data directory",
    ),
    (
        "$ref cycle",
        13,
        "sharing[13].account.$ref: '/aws/loop-a.yml' holds only another $ref",
    ),
    (
        "$ref to a file that is not an account",
        14,
        "sharing[14].account.$ref: '/teams/service-a.yml' is not an AWS account file",
    ),
    ("$ref not absolute", 15, "sharing[15].account.$ref: 'aws/stage/account.yml' must be absolute"),
    ("$ref not a string", 16, "sharing[16].account.$ref: must be a string, got the number 42"),
    ("account missing", 17, "sharing[17].account: must be a mapping with a $ref, missing"),
    ("account not a mapping", 18, "sharing[18].account: must be a mapping with a $ref, got the"),
    ("entry not a mapping", 19, "sharing[19]: must be a mapping, got the string"),
    (
        "$ref to an account file that cannot be used",
        20,
        "sharing[20].account.$ref: '/aws/uid-short/account.yml' points to an account file that "
        "cannot be used",
    ),
    ("region not a string", 21, "sharing[21].region: must be a region name such as us-east-1"),
    ("provider not a string", 22, "sharing[22].provider: must be a string, got a list"),
]
FILE_CASES = [
    (
        "YAML syntax error",
        "aws/yaml-error/account.yml",
        "YAML syntax error at line 10, column 1: found unexpected end of stream (while scanning "
        "a quoted scalar that starts at line 8, column 10)",
    ),
    ("uid missing", "aws/uid-missing/account.yml", "uid: missing"),
    ("uid a number", "aws/uid-number/account.yml", "uid: YAML read it as the number"),
    ("uid too short", "aws/uid-short/account.yml", "uid: must be exactly 12 digits"),
    ("uid with a letter", "aws/uid-letters/account.yml", "uid: must be exactly 12 digits"),
    ("uid unquoted with a leading zero", "aws/uid-octal/account.yml", "uid: YAML read it as"),
    ("sharing not a list", "aws/sharing-mapping/account.yml", "sharing: must be a list, got a"),
    ("same name, first file", "aws/twin-name-1/account.yml", "name: 'twin' is also used by"),
    ("same name, second file", "aws/twin-name-2/account.yml", "name: 'twin' is also used by"),
    ("same uid, first file", "aws/twin-uid-1/account.yml", "uid: '500000000011' is also used"),
    ("same uid, second file", "aws/twin-uid-2/account.yml", "uid: '500000000011' is also used"),
    ("name missing", "aws/name-missing/account.yml", "name: missing"),
    ("region missing", "aws/region-missing/account.yml", "resourcesDefaultRegion: missing"),
    (
        "supportedDeploymentRegions not a list",
        "aws/supported-not-list/account.yml",
        "supportedDeploymentRegions: must be a list of region names",
    ),
]


def fatal_messages(output: str) -> dict[str, list[str]]:
    """host -> the message list of its final failure."""
    found = {}
    for line in output.splitlines():
        match = re.match(r"^fatal: \[(.+?)\]: FAILED! => (\{.*\})$", line)
        if match:
            found[match[1]] = json.loads(match[2])["msg"]
    return found


@pytest.fixture(scope="module")
def catalogue_run(tmp_path_factory):
    """The whole catalogue, shared once; then the calls each image received."""
    tree = tmp_path_factory.mktemp("bad-input") / "catalogue"
    shutil.copytree(CATALOGUE, tree)
    broken = tree / "data" / "aws" / "yaml-error" / "account.yml"
    broken.parent.mkdir()
    shutil.copyfile(CATALOGUE / "yaml-syntax-error.yml.txt", broken)

    with start_local_aws(SEED) as aws:
        stage = aws.ec2(STAGE, "us-east-1")
        (tagged,) = stage.describe_images(ExecutableUsers=["self"])["Images"]
        stage.create_tags(
            Resources=[tagged["ImageId"]],
            Tags=[{"Key": k, "Value": v} for k, v in STAGE_OWN_TAGS.items()],
        )
        aws.control("calls/reset", "POST")

        run = run_playbook(aws, tree / "inventory.app_interface.yml")

        by_image = aws.control("calls/by-image")["images"]
        names = {}
        for uid, region in [
            (BUILDER, "us-east-1"),
            (BUILDER, "eu-west-1"),
            (BUILDER, "us-west-2"),
            ("500000000011", "us-east-1"),
            ("500000000009", "us-east-1"),
        ]:
            for image in aws.ec2(uid, region).describe_images(Owners=["self"])["Images"]:
                names[image["ImageId"]] = image["Name"]
        mutated = {
            names[image_id]
            for image_id, operations in by_image.items()
            if MUTATING & set(operations)
        }
        return {
            "run": run,
            "fatal": fatal_messages(run.output),
            "mutated": mutated,
            "names": set(names.values()),
            "stage": aws.shared_with(STAGE, "us-east-1"),
            "prod": aws.shared_with(PROD, "us-east-1"),
        }


def test_the_run_fails_and_names_every_bad_entry_and_file(catalogue_run):
    run = catalogue_run["run"]

    assert run.returncode == 2, run.output
    assert set(catalogue_run["fatal"]) == {"builder", *(case[1] for case in FILE_CASES)}
    assert len(catalogue_run["fatal"]["builder"]) == len(ENTRY_CASES)


@pytest.mark.parametrize(
    ("index", "message"), [case[1:] for case in ENTRY_CASES], ids=[c[0] for c in ENTRY_CASES]
)
def test_a_bad_entry_is_named_by_file_index_and_field_and_touches_no_image(
    catalogue_run, index, message
):
    lines = [line for line in catalogue_run["fatal"]["builder"] if f"sharing[{index}]" in line]

    assert len(lines) == 1, catalogue_run["fatal"]["builder"]
    assert f"{BUILDER_FILE}: {message}" in lines[0]
    assert lines[0].startswith("builder -> ")
    assert not {n for n in catalogue_run["mutated"] if n.startswith(f"bad-{index:02d}-")}


@pytest.mark.parametrize(
    ("file", "message"), [case[1:] for case in FILE_CASES], ids=[c[0] for c in FILE_CASES]
)
def test_a_bad_file_is_named_with_its_field_and_none_of_its_shares_run(
    catalogue_run, file, message
):
    messages = catalogue_run["fatal"][file]

    assert any(m.startswith(f"{file}: {message}") for m in messages), messages
    assert not {n for n in catalogue_run["mutated"] if n.startswith("bad-f")}


def test_an_unknown_provider_is_skipped_with_a_warning(catalogue_run):
    output = " ".join(catalogue_run["run"].output.split())

    assert f"{BUILDER_FILE}: sharing[1].provider: unknown provider 'rds', entry skipped" in output
    assert not any("sharing[1]" in line for line in catalogue_run["fatal"]["builder"])
    assert not {n for n in catalogue_run["mutated"] if n.startswith("bad-01-")}


def test_only_the_good_entries_images_got_a_mutating_call(catalogue_run):
    assert catalogue_run["mutated"] == {"good-a-1", "good-a-2", "good-a-tags", "good-b-1"}


def test_a_target_uid_with_leading_zeros_is_kept_intact(catalogue_run):
    assert catalogue_run["prod"] == {"good-b-1": {"app": "good-b"}}


def test_an_image_encrypted_with_the_aws_managed_key_is_reported_and_the_others_proceed(
    catalogue_run,
):
    output = " ".join(catalogue_run["run"].output.split())

    assert "good-a-ebs" not in catalogue_run["stage"]
    assert "(good-a-ebs): skipped: encrypted with the AWS managed key aws/ebs" in output
    assert catalogue_run["stage"]["good-a-1"] == {"app": "good-a", "version": "1"}
    assert catalogue_run["stage"]["good-a-2"] == {"app": "good-a", "version": "2"}


def test_tags_over_aws_limits_are_reported_and_the_rest_written(catalogue_run):
    tags = catalogue_run["stage"]["good-a-tags"]
    output = " ".join(catalogue_run["run"].output.split())

    # Five of the target's own, then the 45 source tags that fit under 50.
    assert len(tags) == 50
    assert {k: tags[k] for k in STAGE_OWN_TAGS} == STAGE_OWN_TAGS
    assert {k for k in tags if k.startswith("t")} == {f"t{n:02d}" for n in range(45)}
    assert "value-too-long" not in tags and not any(k.startswith("key-too-long") for k in tags)
    assert "(good-a-tags): not written in 200000000002:" in output
    for reason in (
        "tag 'value-too-long': value longer than 256 characters",
        "key longer than 128 characters",
        "tag 't45': over the limit of 50 tags",
    ):
        assert reason in output


def test_the_catalogue_holds_at_least_thirty_bad_inputs():
    # The unknown provider, the encrypted image and the tags over limits come on top.
    assert len(ENTRY_CASES) + len(FILE_CASES) + 3 >= 30
