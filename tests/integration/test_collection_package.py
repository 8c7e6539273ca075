"""The collection as users get it: the built tarball, installed, documented and packaged in an EE.

The tarball is built once for this file and installed into an empty collections path; the tests
then run ansible with only that path, never the repository.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml
from harness import BIN
from harness import CALLER_ENV
from harness import REPO

RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")
GALAXY = yaml.safe_load((REPO / "galaxy.yml").read_text())
TARBALL_NAME = f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"
INSTALLED = Path("ansible_collections") / GALAXY["namespace"] / GALAXY["name"]
# Paths of the repository that serve its development and must stay out of the tarball.
DEV_ONLY = (
    ".venv/",
    "build/",
    "tools/",
    "scripts/",
    ".ci/",
    "ee/",
    "changelogs/fragments/",
    "tests/output/",
    ".ansible/",
)
DEV_ONLY_FILES = {
    "Makefile",
    "pyproject.toml",
    "requirements-dev.txt",
    "ansible.cfg",
    ".ansible-lint",
    ".yamllint",
    "execution-environment.yml",
}


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> Path:
    """The collection built by `ansible-galaxy collection build` from this repository."""
    dist = tmp_path_factory.mktemp("dist")
    ansible(
        "ansible-galaxy",
        "collection",
        "build",
        "--output-path",
        dist,
        REPO,
        env=isolated_env(),
        cwd=dist,
    )
    return dist / TARBALL_NAME


@pytest.fixture(scope="module")
def collections(tmp_path_factory, tarball) -> Path:
    """An empty collections path with the tarball installed into it, offline."""
    path = tmp_path_factory.mktemp("collections")
    ansible(
        "ansible-galaxy",
        "collection",
        "install",
        "--offline",
        "--collections-path",
        path,
        tarball,
        env=isolated_env(path),
        cwd=path,
    )
    return path


def isolated_env(collections_path: Path | None = None) -> dict[str, str]:
    """The environment without this repository's ansible settings: only collections_path."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env.update(CALLER_ENV)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    # Not even the collections that come with Python packages.
    env["ANSIBLE_COLLECTIONS_SCAN_SYS_PATH"] = "false"
    if collections_path is not None:
        env["ANSIBLE_COLLECTIONS_PATH"] = str(collections_path)
    return env


def ansible(*command, env: dict[str, str], cwd: Path) -> str:
    """Run a command of this virtualenv in cwd; return its output, fail the test on error.

    cwd is never the repository, whose ansible.cfg ansible would read from there.
    """
    run = subprocess.run(
        [BIN / str(command[0]), *command[1:]],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout
    return run.stdout


def test_tarball_holds_what_users_need_and_no_development_tooling(tarball):
    with tarfile.open(tarball) as archive:
        names = {member.name for member in archive.getmembers() if member.isfile()}

    for needed in (
        "MANIFEST.json",
        "README.md",
        "LICENSE",
        "requirements.txt",
        "meta/runtime.yml",
        "meta/execution-environment.yml",
        "plugins/modules/ami_share.py",
        "plugins/inventory/app_interface.py",
        "plugins/module_utils/_share.py",
        "roles/ami_share/tasks/main.yml",
        "roles/ami_share/tasks/share.yml",
        "roles/ami_share/meta/argument_specs.yml",
        "playbooks/share_amis.yml",
        "docs/awx.md",
        "changelogs/changelog.yaml",
        "examples/app-interface/inventory.app_interface.yml",
    ):
        assert needed in names, needed
    assert not {name for name in names if name.startswith(DEV_ONLY)}
    assert not names & DEV_ONLY_FILES
    assert not {name for name in names if "__pycache__" in name or name.endswith(".pyc")}


def test_installed_collection_runs_the_demo_playbook(collections, local_aws_factory):
    home = collections / INSTALLED
    example = home / "examples" / "app-interface"
    aws = local_aws_factory(example / "local-aws-seed.yml")
    env = isolated_env(collections)

    def share_amis(*flags: str) -> tuple[str, int]:
        output = ansible(
            "ansible-playbook",
            "resource_sharing.aws.share_amis",
            "-i",
            example / "inventory.app_interface.yml",
            "-e",
            f"ami_share_endpoint_url={aws.url}",
            "-e",
            "ami_share_role_name=ami-share",
            *flags,
            env=env,
            cwd=collections,
        )
        recap = [RECAP.match(line) for line in output.splitlines()]
        return output, sum(int(match[2]) for match in recap if match)

    first, first_changed = share_amis()
    check, check_changed = share_amis("--check", "--diff")

    assert first_changed > 0, first
    assert f"included: {home}/roles/ami_share/tasks/share.yml" in first, first
    assert str(REPO) not in first
    assert "image-builder -> stage us-east-1: shared" in first
    assert check_changed == 0, check


@pytest.mark.parametrize(
    ("plugin_type", "name", "expected"),
    [
        ("module", "resource_sharing.aws.ami_share", ["name_regex", "target_account_id", "RETURN"]),
        ("inventory", "resource_sharing.aws.app_interface", ["data_dir", "ami_share_sources"]),
        (
            "role",
            "resource_sharing.aws.ami_share",
            ["ami_share_role_name", "ami_share_report_file"],
        ),
    ],
)
def test_ansible_doc_renders_the_installed_plugins_and_role(
    collections, plugin_type, name, expected
):
    output = ansible(
        "ansible-doc", "-t", plugin_type, name, env=isolated_env(collections), cwd=collections
    )

    assert name in output
    for text in expected:
        assert text in output, text
    assert "WARNING" not in output and "ERROR" not in output, output


def test_execution_environment_context_installs_the_collection_and_its_python_needs(
    tmp_path, tarball, collections
):
    # The EE definition as in the repository, with the tarball where `make dist` puts it.
    shutil.copy(REPO / "execution-environment.yml", tmp_path)
    shutil.copytree(REPO / "ee", tmp_path / "ee")
    (tmp_path / "build" / "dist").mkdir(parents=True)
    shutil.copy(tarball, tmp_path / "build" / "dist")
    context = tmp_path / "context"

    ansible(
        "ansible-builder",
        "create",
        "--file",
        "execution-environment.yml",
        "--context",
        context,
        "--output-filename",
        "Containerfile",
        env=isolated_env(),
        cwd=tmp_path,
    )

    containerfile = (context / "Containerfile").read_text()
    assert "ansible-galaxy collection install" in containerfile
    assert "-r requirements.yml" in containerfile
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core==2.19.14 ansible-runner==2.4.3"' in containerfile
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    (collection,) = requirements["collections"]
    assert collection == {"name": f"collections/{TARBALL_NAME}", "type": "file"}
    copied = context / "_build" / "collections" / TARBALL_NAME
    assert copied.read_bytes() == tarball.read_bytes()
    # What the image build asks pip for, found in the installed collection as the build does.
    introspect = context / "_build" / "scripts" / "introspect.py"
    python_needs = subprocess.run(
        [BIN / "python", introspect, "introspect", collections],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    ).stdout
    requirements = yaml.safe_load(python_needs)["python"]
    assert {re.split(r"[<>=\s]", line)[0] for line in requirements} == {"boto3", "botocore"}


def test_changelog_fragments_and_changelog_are_valid():
    for command in (["lint"], ["lint-changelog-yaml", "changelogs/changelog.yaml"]):
        run = subprocess.run(
            [BIN / "antsibull-changelog", *command],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        assert (run.returncode, run.stdout) == (0, ""), command
