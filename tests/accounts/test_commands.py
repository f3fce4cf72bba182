"""createorg and addmember: the command-line contract of DESIGN section 11.

Exit codes, stderr and the exact stdout of --json are what outside test suites rely on, so those
tests run the real command line in a subprocess, against a migrated SQLite file of their own.
Behaviour that is easier to check on models goes through call_command on the test database.
"""

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from accounts.models import GdprToken, Membership, Organization, Role, User
from accounts.services import gdpr_token_verify
from projects.models import Project
from projects.services import project_verify_api_secret
from tests.factories import (
    DEFAULT_PASSWORD,
    MembershipFactory,
    OrganizationFactory,
    ProjectFactory,
    UserFactory,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
CREATEORG_KEYS = {
    "organization_id": int,
    "project_id": int,
    "project_token": str,
    "api_secret": str,
    "owner_email": str,
    "gdpr_token": str,
}


def sha256(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def manage(database: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "VAR_DIR": str(database.parent),
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def query(database: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(database) as db:
        return db.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def migrated_database(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("commands") / "migrated.sqlite3"
    result = manage(path, "migrate", "--verbosity", "0")
    assert result.returncode == 0, result.stderr
    return path


@pytest.fixture
def command_database(migrated_database, tmp_path) -> Path:
    path = tmp_path / "db.sqlite3"
    shutil.copyfile(migrated_database, path)
    return path


def createorg(*args: str) -> dict:
    out = io.StringIO()
    call_command("createorg", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def addmember(*args: str) -> dict:
    out = io.StringIO()
    call_command("addmember", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


ACME = ("--org", "Acme", "--owner", "alice@example.com", "--project", "Web")


# The command line: exact stdout, stderr and exit codes.


def test_createorg_json_prints_one_object_with_exactly_the_contract_keys(command_database):
    result = manage(
        command_database,
        "createorg",
        "--org",
        "Acme",
        "--owner",
        "Alice@Example.COM",
        "--project",
        "Web",
        "--json",
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.endswith("}\n") and result.stdout.count("\n") == 1
    output = json.loads(result.stdout)
    assert {key: type(value) for key, value in output.items()} == CREATEORG_KEYS
    [(organization_id, project_id, project_token, api_secret_hash)] = query(
        command_database,
        "SELECT o.id, p.id, p.token, p.api_secret_hash FROM projects_project p "
        "JOIN accounts_organization o ON o.id = p.organization_id "
        "WHERE o.name = 'Acme' AND p.name = 'Web'",
    )
    assert output["organization_id"] == organization_id
    assert output["project_id"] == project_id
    assert output["project_token"] == project_token
    assert output["owner_email"] == "alice@example.com"
    assert api_secret_hash == sha256(output["api_secret"])
    assert output["gdpr_token"].startswith("gdpr_")
    assert query(
        command_database,
        "SELECT u.email, m.role FROM accounts_gdprtoken t "
        "JOIN accounts_user u ON u.id = t.user_id "
        "JOIN accounts_membership m ON m.user_id = u.id AND m.organization_id = ? "
        "WHERE t.token_hash = ?",
        organization_id,
        sha256(output["gdpr_token"]),
    ) == [("alice@example.com", "owner")]


def test_addmember_json_prints_email_role_and_a_new_gdpr_token(command_database):
    assert manage(command_database, "createorg", *ACME).returncode == 0

    result = manage(
        command_database,
        "addmember",
        "--org",
        "Acme",
        "--email",
        "Bob@Example.com",
        "--role",
        "admin",
        "--json",
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    output = json.loads(result.stdout)
    assert list(output) == ["email", "role", "gdpr_token"]
    assert output["email"] == "bob@example.com"
    assert output["role"] == "admin"
    assert query(
        command_database,
        "SELECT u.email, m.role FROM accounts_gdprtoken t "
        "JOIN accounts_user u ON u.id = t.user_id "
        "JOIN accounts_membership m ON m.user_id = u.id WHERE t.token_hash = ?",
        sha256(output["gdpr_token"]),
    ) == [("bob@example.com", "admin")]


def test_demoting_the_last_owner_exits_1_with_one_line_and_changes_nothing(command_database):
    created = manage(command_database, "createorg", *ACME, "--json")
    gdpr_token = json.loads(created.stdout)["gdpr_token"]

    result = manage(
        command_database,
        "addmember",
        "--org",
        "Acme",
        "--email",
        "alice@example.com",
        "--role",
        "member",
        "--json",
    )

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "CommandError: The last owner cannot be demoted: make someone else owner first.\n"
    )
    assert query(command_database, "SELECT role FROM accounts_membership") == [("owner",)]
    assert query(command_database, "SELECT token_hash FROM accounts_gdprtoken") == [
        (sha256(gdpr_token),)
    ]


def test_addmember_to_unknown_organization_exits_1_with_one_line(command_database):
    result = manage(
        command_database,
        "addmember",
        "--org",
        "Nowhere",
        "--email",
        "bob@example.com",
        "--role",
        "member",
    )

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == "CommandError: No organization is named 'Nowhere'.\n"
    assert query(command_database, "SELECT count(*) FROM accounts_user") == [(0,)]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["createorg", "--owner", "alice@example.com", "--project", "Web"],
            "manage.py createorg: error: the following arguments are required: --org",
        ),
        (
            ["addmember", "--email", "bob@example.com", "--role", "admin"],
            "manage.py addmember: error: the following arguments are required: --org",
        ),
        (
            ["addmember", "--org", "Acme", "--email", "bob@example.com", "--role", "boss"],
            "manage.py addmember: error: argument --role: "
            "must be one of owner, admin, member, not 'boss'",
        ),
        (
            ["createorg", "--org", "Acme", "--owner", "alice@", "--project", "Web"],
            "manage.py createorg: error: argument --owner: invalid email address: 'alice@'",
        ),
        (
            ["addmember", "--org", "Acme", "--email", "bob example.com", "--role", "admin"],
            "manage.py addmember: error: argument --email: "
            "invalid email address: 'bob example.com'",
        ),
        (
            ["createorg", "--org", "  ", "--owner", "alice@example.com", "--project", "Web"],
            "manage.py createorg: error: argument --org: must not be empty",
        ),
        (
            ["createorg", "--org", "Acme", "--owner", "alice@example.com", "--project", ""],
            "manage.py createorg: error: argument --project: must not be empty",
        ),
        (
            ["createorg", *ACME, "--password", ""],
            "manage.py createorg: error: argument --password: must not be empty",
        ),
    ],
    ids=[
        "createorg-missing-org",
        "addmember-missing-org",
        "unknown-role",
        "createorg-invalid-email",
        "addmember-invalid-email",
        "blank-org-name",
        "empty-project-name",
        "empty-password",
    ],
)
def test_bad_arguments_exit_2_with_one_line_on_stderr(tmp_path, args, error):
    # Arguments are refused before the database is opened, so none is needed.
    result = manage(tmp_path / "never-opened.sqlite3", *args)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == error + "\n"
    assert not (tmp_path / "never-opened.sqlite3").exists()


# createorg behaviour, on the test database.


@pytest.mark.django_db
def test_createorg_second_run_reuses_organization_owner_and_project():
    first = createorg(*ACME)
    second = createorg("--org", "Acme", "--owner", "ALICE@example.com", "--project", "Web")

    assert second["organization_id"] == first["organization_id"]
    assert second["project_id"] == first["project_id"]
    assert second["project_token"] == first["project_token"]
    assert second["owner_email"] == "alice@example.com"
    assert Organization.objects.count() == 1
    assert Project.objects.count() == 1
    assert User.objects.count() == 1
    assert list(Membership.objects.values_list("user__email", "role")) == [
        ("alice@example.com", Role.OWNER)
    ]


@pytest.mark.django_db
def test_createorg_second_run_issues_new_secrets_and_the_old_ones_stop_working():
    first = createorg(*ACME)
    second = createorg(*ACME)

    assert second["api_secret"] != first["api_secret"]
    assert second["gdpr_token"] != first["gdpr_token"]
    project = Project.objects.get(id=second["project_id"])
    assert project_verify_api_secret(project=project, secret=first["api_secret"]) is False
    assert project_verify_api_secret(project=project, secret=second["api_secret"]) is True
    owner = User.objects.get(email="alice@example.com")
    assert gdpr_token_verify(raw_token=first["gdpr_token"]) is None
    assert gdpr_token_verify(raw_token=second["gdpr_token"]) == owner
    assert GdprToken.objects.count() == 1


@pytest.mark.django_db
def test_createorg_stores_secrets_only_as_hashes():
    output = createorg(*ACME, "--password", "s3cret-Operator-pass")

    project = Project.objects.get(id=output["project_id"])
    assert project.api_secret_hash == sha256(output["api_secret"])
    assert GdprToken.objects.get().token_hash == sha256(output["gdpr_token"])
    raw_values = (output["api_secret"], output["gdpr_token"], "s3cret-Operator-pass")
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 (table names come from the schema)
            for row in cursor.fetchall():
                for value in row:
                    assert not any(raw in str(value) for raw in raw_values), table


@pytest.mark.django_db
def test_createorg_password_signs_in_on_the_sign_in_page(client):
    createorg(*ACME, "--password", "operator-chosen-pw")

    response = client.post(
        reverse("account_login"), {"login": "alice@example.com", "password": "operator-chosen-pw"}
    )

    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == reverse("home")
    assert EmailAddress.objects.get(email="alice@example.com").verified is True


@pytest.mark.django_db
def test_createorg_without_password_leaves_an_existing_password_alone():
    user = UserFactory(email="alice@example.com")

    createorg(*ACME)

    assert authenticate(email="alice@example.com", password=DEFAULT_PASSWORD) == user


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER])
def test_createorg_promotes_an_existing_member_to_owner_and_keeps_other_owners(role):
    organization = OrganizationFactory(name="Acme")
    other_owner = MembershipFactory(organization=organization, role=Role.OWNER).user
    alice = MembershipFactory(
        organization=organization, role=role, user=UserFactory(email="alice@example.com")
    ).user

    output = createorg(*ACME)

    assert output["organization_id"] == organization.id
    assert dict(Membership.objects.values_list("user_id", "role")) == {
        other_owner.id: Role.OWNER,
        alice.id: Role.OWNER,
    }


@pytest.mark.django_db
def test_createorg_matches_project_names_only_within_the_organization():
    ProjectFactory(name="Web", organization=OrganizationFactory(name="Other"))

    output = createorg(*ACME)

    project = Project.objects.get(id=output["project_id"])
    assert project.organization.name == "Acme"
    assert Project.objects.filter(name="Web").count() == 2


@pytest.mark.django_db
def test_createorg_refuses_an_ambiguous_organization_name_and_creates_nothing():
    OrganizationFactory.create_batch(2, name="Acme")

    with pytest.raises(CommandError) as excinfo:
        createorg(*ACME)

    assert str(excinfo.value) == (
        "2 organizations are named 'Acme'; rename all but one in the admin first."
    )
    assert User.objects.count() == 0
    assert Project.objects.count() == 0
    assert Membership.objects.count() == 0


@pytest.mark.django_db
def test_createorg_refusal_rolls_back_every_write():
    alice = UserFactory(email="alice@example.com", is_active=False)

    with pytest.raises(CommandError) as excinfo:
        createorg(*ACME, "--password", "new-password")

    assert str(excinfo.value) == (
        "The account 'alice@example.com' is deactivated; reactivate it first."
    )
    assert Organization.objects.count() == 0
    assert Project.objects.count() == 0
    assert GdprToken.objects.count() == 0
    alice.refresh_from_db()
    assert alice.check_password(DEFAULT_PASSWORD)
    assert not EmailAddress.objects.exists()


@pytest.mark.django_db
def test_createorg_without_json_prints_the_same_facts_as_readable_lines():
    out = io.StringIO()

    call_command("createorg", *ACME, stdout=out)

    project = Project.objects.get()
    lines = out.getvalue().splitlines()
    assert lines[:4] == [
        f"Organization: 'Acme' (id {project.organization_id}, created)",
        "Owner: alice@example.com (created, no password yet: pass --password or use "
        "'Forgot password')",
        f"Project: 'Web' (id {project.id}, created)",
        f"Project token: {project.token}",
    ]
    api_secret = lines[4].removeprefix("API secret: ")
    gdpr_token = lines[5].removeprefix("GDPR token of alice@example.com: ")
    assert project_verify_api_secret(project=project, secret=api_secret) is True
    assert gdpr_token_verify(raw_token=gdpr_token) == User.objects.get()
    assert lines[6:] == ["Both secrets are shown only now: only their hashes are kept."]


# addmember behaviour, on the test database.


@pytest.mark.django_db
def test_addmember_changes_the_role_of_an_existing_member():
    organization = OrganizationFactory(name="Acme")
    MembershipFactory(organization=organization, role=Role.OWNER)
    bob = MembershipFactory(
        organization=organization, role=Role.MEMBER, user=UserFactory(email="bob@example.com")
    ).user

    output = addmember("--org", "Acme", "--email", "BOB@example.com", "--role", "Admin")

    assert output["email"] == "bob@example.com"
    assert output["role"] == "admin"
    assert Membership.objects.get(user=bob).role == Role.ADMIN
    assert Membership.objects.filter(user=bob).count() == 1
    assert gdpr_token_verify(raw_token=output["gdpr_token"]) == bob


@pytest.mark.django_db
def test_addmember_new_person_with_password_can_sign_in():
    MembershipFactory(organization=OrganizationFactory(name="Acme"), role=Role.OWNER)

    output = addmember(
        "--org",
        "Acme",
        "--email",
        "carol@example.com",
        "--role",
        "member",
        "--password",
        "carol-pw",
    )

    carol = User.objects.get(email="carol@example.com")
    assert output == {
        "email": "carol@example.com",
        "role": "member",
        "gdpr_token": output["gdpr_token"],
    }
    assert authenticate(email="carol@example.com", password="carol-pw") == carol
    assert Membership.objects.get(user=carol).role == Role.MEMBER


@pytest.mark.django_db
def test_addmember_demoting_the_last_owner_is_refused_and_nothing_changes():
    organization = OrganizationFactory(name="Acme")
    alice = MembershipFactory(
        organization=organization, role=Role.OWNER, user=UserFactory(email="alice@example.com")
    ).user

    with pytest.raises(CommandError) as excinfo:
        addmember(
            "--org",
            "Acme",
            "--email",
            "alice@example.com",
            "--role",
            "admin",
            "--password",
            "changed-pw",
        )

    assert str(excinfo.value) == (
        "The last owner cannot be demoted: make someone else owner first."
    )
    assert Membership.objects.get(user=alice).role == Role.OWNER
    alice.refresh_from_db()
    assert alice.check_password(DEFAULT_PASSWORD)
    assert not GdprToken.objects.exists()


@pytest.mark.django_db
def test_addmember_demotes_an_owner_when_another_owner_remains():
    organization = OrganizationFactory(name="Acme")
    MembershipFactory(organization=organization, role=Role.OWNER)
    alice = MembershipFactory(
        organization=organization, role=Role.OWNER, user=UserFactory(email="alice@example.com")
    ).user

    output = addmember("--org", "Acme", "--email", "alice@example.com", "--role", "member")

    assert output["role"] == "member"
    assert Membership.objects.get(user=alice).role == Role.MEMBER
