"""The audit chain anchored outside its table (issue 15, finding 5).

Someone with write access to the database deletes entries from the end of an organization's
chain, or all of them, or rewrites an entry and recomputes what follows. The links alone cannot
tell: what is left is a whole chain. A head recorded elsewhere can: the deletion receipt, the
export manifest, the daily checkpoint in private storage, checked by `manage.py audit_verify`.
The attacks use raw SQL, as an attacker with database access would.
"""

import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.management.base import connections
from django.db import connection

from privacy_requests.audit import (
    AuditAnchor,
    audit_append,
    audit_head,
    audit_heads,
    audit_verify,
)
from privacy_requests.audit import _entry_hash as entry_hash_with_the_key
from privacy_requests.deletions.receipts import receipt_read
from privacy_requests.management.commands.audit_verify import Command as AuditVerify
from privacy_requests.models import AuditEntry, PrivacyRequest, Status
from privacy_requests.services import privacy_sweep
from privacy_requests.services.audit_checkpoints import audit_checkpoint_write
from tests.factories import OrganizationFactory
from tests.privacy_requests.deletion_support import events_add
from tests.privacy_requests.export_support import manifest_of, package_of

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)
CHECKPOINT = "audit-checkpoints/2026-03-15.json"
NEXT_CHECKPOINT = "audit-checkpoints/2026-03-16.json"


@pytest.fixture(autouse=True)
def private_storage(settings):
    """A fresh in-memory private storage for each test."""
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }


def append(organization, count: int) -> list[AuditEntry]:
    return [
        audit_append(
            organization_id=organization.id, actor="system", action="note", detail={"n": n}
        )
        for n in range(count)
    ]


@pytest.fixture
def chain(organization) -> list[AuditEntry]:
    return append(organization, 5)


def delete_from_seq(organization, seq: int) -> None:
    """The attack: raw SQL, past every service."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {AuditEntry._meta.db_table} WHERE organization_id = %s AND seq >= %s",  # noqa: S608
            [organization.id, seq],
        )


def rewrite_with_the_key(organization, *, seq: int, detail: dict) -> None:
    """The strongest attack on the links: an entry rewritten and every later hash recomputed,
    by someone who also holds PRIVACY_AUDIT_KEY."""
    prev_hash = None
    for entry in AuditEntry.objects.filter(organization=organization, seq__gte=seq).order_by("seq"):
        if prev_hash is None:
            entry.detail = detail
        else:
            entry.prev_hash = prev_hash
        entry.hash = entry_hash_with_the_key(entry, tracking_id=None)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {AuditEntry._meta.db_table} SET detail = %s, prev_hash = %s, hash = %s "  # noqa: S608
                "WHERE id = %s",
                [json.dumps(entry.detail), entry.prev_hash, entry.hash, entry.id],
            )
        prev_hash = entry.hash


def head_anchor(entry: AuditEntry, source: str = "--expect-head") -> AuditAnchor:
    return AuditAnchor(entry.seq, entry.hash, source)


def audit_verify_cli(capsys, monkeypatch, *args: str) -> tuple[int, str, str]:
    """`manage.py audit_verify ARGS` as the command line runs it: parsing, exit code, stdout
    and stderr. In process, because the test's data lives in the test's transaction; the
    connection the command line closes at exit is the test's, so it stays open."""
    monkeypatch.setattr(connections, "close_all", lambda: None)
    code = 0
    try:
        AuditVerify().run_from_argv(["manage.py", "audit_verify", *args])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


# --- the chain alone cannot tell; an anchor can --------------------------------------------------


def test_entries_deleted_from_the_end_pass_plain_verification_but_not_the_head(chain, organization):
    delete_from_seq(organization, 4)

    assert audit_verify(organization_id=organization.id) is None  # what the issue reported
    broken = audit_verify(organization_id=organization.id, anchors=[head_anchor(chain[4])])
    assert (broken.seq, broken.entry_id) == (5, None)
    assert broken.reason == (
        "the chain ends at entry #3, but --expect-head recorded entry #5: entries were deleted "
        "from its end"
    )


def test_all_entries_deleted_pass_plain_verification_but_not_the_head(chain, organization):
    delete_from_seq(organization, 1)

    assert audit_verify(organization_id=organization.id) is None
    broken = audit_verify(organization_id=organization.id, anchors=[head_anchor(chain[2])])
    assert broken.reason == (
        "the chain has no entries, but --expect-head recorded entry #3: entries were deleted "
        "from its end"
    )


def test_a_chain_cut_short_and_grown_again_does_not_hold_the_old_head(chain, organization):
    delete_from_seq(organization, 4)
    regrown = append(organization, 3)

    assert [entry.seq for entry in regrown] == [4, 5, 6]
    assert audit_verify(organization_id=organization.id) is None
    broken = audit_verify(organization_id=organization.id, anchors=[head_anchor(chain[4])])
    assert (broken.seq, broken.entry_id) == (5, regrown[1].id)
    assert broken.reason == (
        "entry #5 is not the one --expect-head recorded: the chain was rewritten from there on"
    )


def test_an_entry_rewritten_below_the_head_with_the_key_is_caught_by_the_head(chain, organization):
    rewrite_with_the_key(organization, seq=2, detail={"n": "forged"})

    assert AuditEntry.objects.get(organization=organization, seq=2).detail == {"n": "forged"}
    assert audit_verify(organization_id=organization.id) is None
    broken = audit_verify(organization_id=organization.id, anchors=[head_anchor(chain[4])])
    assert broken.seq == 5
    assert broken.reason.startswith("entry #5 is not the one --expect-head recorded")


def test_a_chain_that_grew_past_its_anchors_verifies(chain, organization):
    later = append(organization, 2)

    anchors = [head_anchor(chain[2], "a receipt"), head_anchor(chain[4], "a checkpoint")]
    assert audit_verify(organization_id=organization.id, anchors=anchors) is None
    assert audit_head(organization_id=organization.id).seq == later[-1].seq == 7


def test_another_organizations_head_does_not_verify_this_chain(chain, organization):
    other = OrganizationFactory()
    [theirs] = append(other, 1)

    broken = audit_verify(organization_id=organization.id, anchors=[head_anchor(theirs)])
    assert broken.seq == 1
    assert broken.reason.startswith("entry #1 is not the one --expect-head recorded")


def test_audit_heads_are_every_organizations_last_entry(chain, organization):
    other = OrganizationFactory()
    OrganizationFactory()  # no entry, no head
    theirs = append(other, 2)

    assert [(h.organization_id, h.seq, h.hash) for h in audit_heads()] == sorted(
        [(organization.id, 5, chain[4].hash), (other.id, 2, theirs[1].hash)]
    )


# --- the receipt and the manifest carry the head -------------------------------------------------


@pytest.fixture
def receipt(submit, project):
    events_add(project, "alice", 2)
    deletion = PrivacyRequest.objects.get(
        id=submit(kind="deletion", distinct_ids=["alice"], run=True).id
    )
    assert deletion.status == Status.SUCCESS
    return receipt_read(request=deletion)


def test_the_receipts_head_is_the_chain_head_when_it_was_written(receipt, project):
    head = receipt["audit_chain_head"]
    deleted = AuditEntry.objects.get(organization=project.organization, seq=head["seq"])

    assert (deleted.action, deleted.hash) == ("deleted", head["hash"])
    # Only the request's "succeeded" came after it.
    assert list(
        AuditEntry.objects.filter(
            organization=project.organization, seq__gt=head["seq"]
        ).values_list("action", flat=True)
    ) == ["succeeded"]


def test_a_receipt_proves_entries_deleted_after_it_were_removed(
    receipt, project, capsys, monkeypatch
):
    organization_id = project.organization_id
    expected = f"{receipt['audit_chain_head']['seq']}:{receipt['audit_chain_head']['hash']}"
    assert receipt["audit_chain_head"]["verify"] == (
        f"python manage.py audit_verify --org {organization_id} --expect-head {expected}"
    )
    code, out, err = audit_verify_cli(
        capsys, monkeypatch, "--org", str(organization_id), "--expect-head", expected
    )
    assert (code, err) == (0, "")
    assert out.endswith("; holds the expected head\n")

    # The deletion, its receipt's entry and what followed: gone from the database.
    delete_from_seq(project.organization, receipt["audit_chain_head"]["seq"])

    code, out, err = audit_verify_cli(capsys, monkeypatch, "--org", str(organization_id))
    assert (code, err) == (0, "")  # plain verification sees a whole chain
    code, out, err = audit_verify_cli(
        capsys, monkeypatch, "--org", str(organization_id), "--expect-head", expected
    )
    seq = receipt["audit_chain_head"]["seq"]
    reason = (
        f"the chain ends at entry #{seq - 1}, but --expect-head recorded entry #{seq}: entries "
        "were deleted from its end"
    )
    assert code == 1
    assert out == (
        f"organization {organization_id} ({project.organization.name!r}): BROKEN at entry "
        f"#{seq}: {reason}\n"
    )
    assert err == (
        f"CommandError: 1 of 1 audit chains broken; the first: organization {organization_id} "
        f"at entry #{seq}: {reason}.\n"
    )


def test_an_export_manifest_proves_the_chain_was_not_cut_short_below_it(
    submit, project, capsys, monkeypatch
):
    events_add(project, "alice", 1)
    export = PrivacyRequest.objects.get(id=submit(distinct_ids=["alice"], run=True).id)
    head = manifest_of(package_of(export))["audit_chain_head"]
    organization = str(project.organization_id)
    expected = f"{head['seq']}:{head['hash']}"

    delete_from_seq(project.organization, 1)  # the organization's whole chain

    assert audit_verify(organization_id=project.organization_id) is None
    code, out, err = audit_verify_cli(
        capsys, monkeypatch, "--org", organization, "--expect-head", expected
    )
    assert code == 1
    assert f"the chain has no entries, but --expect-head recorded entry #{head['seq']}" in out
    assert err.count("\n") == 1


# --- the daily checkpoint ------------------------------------------------------------------------


def stored_json(name: str) -> dict:
    with storages["private"].open(name, "rb") as stored:
        return json.loads(stored.read())


def test_the_sweep_writes_the_days_checkpoint_once_and_the_next_day_a_new_one(chain, organization):
    with time_machine.travel(DAY, tick=False):
        first = privacy_sweep()
    assert first.audit_checkpoint == CHECKPOINT
    assert first.as_text().endswith(f", wrote the audit checkpoint {CHECKPOINT}")
    written = storages["private"].open(CHECKPOINT, "rb").read()
    assert json.loads(written) == {
        "checkpoint": "audit chain heads",
        "version": 1,
        "day": "2026-03-15",
        "written_at": "2026-03-15T10:00:00Z",
        "meaning": (
            "The head (last entry) of each organization's audit chain when this checkpoint was "
            "written. Chains only grow: each must still hold the entry named here, with this "
            "hash."
        ),
        "algorithm": "HMAC-SHA256(PRIVACY_AUDIT_KEY, prev_hash || canonical JSON of the entry)",
        "heads": [{"organization": organization.id, "seq": 5, "hash": chain[4].hash}],
    }

    later = append(organization, 2)
    with time_machine.travel(DAY.replace(hour=23, minute=59, second=59), tick=False):
        again = privacy_sweep()
    assert again.audit_checkpoint is None
    assert "audit checkpoint" not in again.as_text()
    assert storages["private"].open(CHECKPOINT, "rb").read() == written  # never overwritten

    with time_machine.travel(DAY + timedelta(hours=14), tick=False):
        next_day = privacy_sweep()
    assert next_day.audit_checkpoint == NEXT_CHECKPOINT
    assert stored_json(NEXT_CHECKPOINT)["heads"] == [
        {"organization": organization.id, "seq": 7, "hash": later[1].hash}
    ]
    assert storages["private"].listdir("audit-checkpoints") == (
        [],
        ["2026-03-15.json", "2026-03-16.json"],
    )


def test_a_checkpoint_already_stored_for_the_day_is_left_as_it_is(chain):
    storages["private"].save(CHECKPOINT, ContentFile(b'{"heads": []}\n'))

    with time_machine.travel(DAY, tick=False):
        assert privacy_sweep().audit_checkpoint is None

    assert storages["private"].open(CHECKPOINT, "rb").read() == b'{"heads": []}\n'


def test_a_writer_that_slips_past_the_check_leaves_the_first_checkpoint_alone(chain, monkeypatch):
    """Two databases sharing a bucket have no common lock: the second save gets another name
    from the storage, and is deleted again."""
    storage = storages["private"]
    real_exists = storage.exists
    checks = []

    def first_writer_saves_after_the_check(name):
        if not checks:  # the writer's own check: nothing there yet
            checks.append(name)
            storage.save(CHECKPOINT, ContentFile(b"first\n"))
            return False
        return real_exists(name)

    monkeypatch.setattr(storage, "exists", first_writer_saves_after_the_check)

    with time_machine.travel(DAY, tick=False):
        assert audit_checkpoint_write() is None

    assert storage.listdir("audit-checkpoints") == ([], ["2026-03-15.json"])
    assert storage.open(CHECKPOINT, "rb").read() == b"first\n"


def test_a_checkpoint_storage_refuses_is_written_by_a_later_sweep(chain, monkeypatch, caplog):
    storage = storages["private"]
    real_save = storage.save

    def refuse(name, content, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage, "save", refuse)
    with time_machine.travel(DAY, tick=False):
        report = privacy_sweep()
    assert report.audit_checkpoint is None
    assert "Could not write the audit checkpoint; the next sweep retries." in caplog.text
    assert not storage.exists(CHECKPOINT)

    monkeypatch.setattr(storage, "save", real_save)
    with time_machine.travel(DAY + timedelta(minutes=1), tick=False):
        assert privacy_sweep().audit_checkpoint == CHECKPOINT


def test_checkpoints_catch_a_chain_cut_short_that_plain_verification_passes(
    chain, organization, capsys, monkeypatch
):
    other = OrganizationFactory(name="Other")
    theirs = append(other, 2)
    with time_machine.travel(DAY, tick=False):
        privacy_sweep()
    delete_from_seq(organization, 3)

    code, out, err = audit_verify_cli(capsys, monkeypatch)
    assert (code, err) == (0, "")
    assert out == (
        f"organization {organization.id} ({organization.name!r}): intact, 2 entries, head "
        f"2:{chain[1].hash}\n"
        f"organization {other.id} ('Other'): intact, 2 entries, head 2:{theirs[1].hash}\n"
    )

    code, out, err = audit_verify_cli(capsys, monkeypatch, "--checkpoints")
    reason = (
        f"the chain ends at entry #2, but checkpoint {CHECKPOINT} recorded entry #5: entries "
        "were deleted from its end"
    )
    assert code == 1
    assert out == (
        f"organization {organization.id} ({organization.name!r}): BROKEN at entry #5: "
        f"{reason}\n"
        f"organization {other.id} ('Other'): intact, 2 entries, head 2:{theirs[1].hash}; "
        "holds the heads of 1 checkpoint(s)\n"
    )
    assert err == (
        f"CommandError: 1 of 2 audit chains broken; the first: organization {organization.id} "
        f"at entry #5: {reason}.\n"
    )


def test_checkpoints_catch_an_organizations_whole_chain_deleted(
    chain, organization, capsys, monkeypatch
):
    with time_machine.travel(DAY, tick=False):
        privacy_sweep()
    with time_machine.travel(DAY + timedelta(days=1), tick=False):
        privacy_sweep()
    delete_from_seq(organization, 1)

    code, out, err = audit_verify_cli(capsys, monkeypatch, "--org", str(organization.id))
    assert (code, out) == (
        0,
        f"organization {organization.id} ({organization.name!r}): intact, no entries\n",
    )

    code, out, err = audit_verify_cli(
        capsys, monkeypatch, "--org", str(organization.id), "--checkpoints"
    )
    assert code == 1
    assert out == (
        f"organization {organization.id} ({organization.name!r}): BROKEN at entry #5: the "
        f"chain has no entries, but checkpoint {CHECKPOINT} recorded entry #5: entries were "
        "deleted from its end\n"
    )


def test_a_checkpoint_that_is_not_one_stops_verification(chain, capsys, monkeypatch):
    storages["private"].save(CHECKPOINT, ContentFile(b'{"heads": [{"organization": 1}]}'))

    code, out, err = audit_verify_cli(capsys, monkeypatch, "--checkpoints")

    assert (code, out) == (1, "")
    assert err == (f"CommandError: {CHECKPOINT} is not an audit checkpoint (KeyError: 'seq')\n")


def test_verifying_against_checkpoints_before_any_is_written_says_so(
    chain, organization, capsys, monkeypatch
):
    code, out, err = audit_verify_cli(capsys, monkeypatch, "--checkpoints")

    assert code == 0
    assert out == (
        f"organization {organization.id} ({organization.name!r}): intact, 5 entries, head "
        f"5:{chain[4].hash}\n"
    )
    assert err == "No audit checkpoint is stored yet: checked the chains alone.\n"


# --- the command's arguments -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--expect-head", "5"],
            "manage.py audit_verify: error: argument --expect-head: must be SEQ:HASH, an entry "
            "number from 1 and its 64 hex digit hash\n",
        ),
        (
            ["--org", "1", "--expect-head", "0:" + "a" * 64],
            "manage.py audit_verify: error: argument --expect-head: must be SEQ:HASH, an entry "
            "number from 1 and its 64 hex digit hash\n",
        ),
        (
            ["--org", "1", "--expect-head", "3:" + "g" * 64],
            "manage.py audit_verify: error: argument --expect-head: must be SEQ:HASH, an entry "
            "number from 1 and its 64 hex digit hash\n",
        ),
        (
            ["--org", "0"],
            "manage.py audit_verify: error: argument --org: must be at least 1, not 0\n",
        ),
        (
            ["--org", "x"],
            "manage.py audit_verify: error: argument --org: must be an integer, not 'x'\n",
        ),
        (
            ["--expect-head", "3:" + "a" * 64],
            "CommandError: --expect-head needs --org: a head belongs to one organization's "
            "chain.\n",
        ),
        (
            ["--org", "1", "--bogus"],
            "manage.py audit_verify: error: unrecognized arguments: --bogus\n",
        ),
    ],
)
def test_bad_arguments_exit_2_with_one_line(chain, capsys, monkeypatch, args, message):
    code, out, err = audit_verify_cli(capsys, monkeypatch, *args)

    assert (code, out, err) == (2, "", message)


def test_an_unknown_organization_exits_1(chain, capsys, monkeypatch):
    code, out, err = audit_verify_cli(capsys, monkeypatch, "--org", "987654321")

    assert (code, out, err) == (1, "", "CommandError: No organization has id 987654321.\n")


def test_the_expected_head_is_accepted_in_upper_case_hex(chain, organization, capsys, monkeypatch):
    code, out, err = audit_verify_cli(
        capsys,
        monkeypatch,
        "--org",
        str(organization.id),
        "--expect-head",
        f"5:{chain[4].hash.upper()}",
    )

    assert (code, err) == (0, "")
    assert out == (
        f"organization {organization.id} ({organization.name!r}): intact, 5 entries, head "
        f"5:{chain[4].hash}; holds the expected head\n"
    )


def test_an_organization_name_cannot_forge_a_line_of_the_report(capsys, monkeypatch):
    sneaky = OrganizationFactory(name="Evil\norganization 1 ('Acme'): intact")
    [entry] = append(sneaky, 1)

    code, out, err = audit_verify_cli(capsys, monkeypatch, "--org", str(sneaky.id))

    assert code == 0
    assert out == (
        f"organization {sneaky.id} (\"Evil\\norganization 1 ('Acme'): intact\"): intact, "
        f"1 entry, head 1:{entry.hash}\n"
    )


# --- the real command line -------------------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_CHAIN = """
from accounts.models import Organization
from privacy_requests.audit import audit_append
organization = Organization.objects.create(name="Acme")
for n in range(3):
    entry = audit_append(organization_id=organization.id, actor="system", action="note")
print(organization.id, f"{entry.seq}:{entry.hash}")
"""


def test_the_command_line_in_a_process_of_its_own(tmp_path):
    database = tmp_path / "db.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "VAR_DIR": str(tmp_path),
    }

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert manage("migrate", "--verbosity", "0").returncode == 0
    built = manage("shell", "--no-imports", "-c", BUILD_CHAIN)
    assert built.returncode == 0, built.stderr
    organization_id, head = built.stdout.split()
    with sqlite3.connect(database) as db:
        db.execute("DELETE FROM privacy_requests_auditentry WHERE seq = 3")

    plain = manage("audit_verify")
    anchored = manage("audit_verify", "--org", organization_id, "--expect-head", head)
    bad = manage("audit_verify", "--expect-head", head)

    assert (plain.returncode, plain.stderr) == (0, "")
    assert plain.stdout.startswith(f"organization {organization_id} ('Acme'): intact, 2 entries")
    assert anchored.returncode == 1
    assert anchored.stdout.count("\n") == 1
    assert anchored.stderr == (
        f"CommandError: 1 of 1 audit chains broken; the first: organization {organization_id} "
        "at entry #3: the chain ends at entry #2, but --expect-head recorded entry #3: entries "
        "were deleted from its end.\n"
    )
    assert (bad.returncode, bad.stdout) == (2, "")
    assert bad.stderr == (
        "CommandError: --expect-head needs --org: a head belongs to one organization's chain.\n"
    )
