import argparse
import re

from django.core.management.base import CommandError, CommandParser

from accounts.models import Organization
from config.commands import OperatorCommand, bounded_int_arg
from privacy_requests.audit import AuditAnchor, ChainBreak, ChainCheck, audit_chain_check
from privacy_requests.exports.files import STORAGE_ERRORS
from privacy_requests.services.audit_checkpoints import (
    Checkpoint,
    CheckpointUnreadable,
    audit_checkpoints_read,
)

EXPECTED_HEAD = re.compile(r"([1-9][0-9]{0,18}):([0-9a-fA-F]{64})")
BAD_ARGUMENTS = 2
EXPECT_HEAD = "--expect-head"


def expected_head_arg(value: str) -> AuditAnchor:
    """SEQ:HASH, as a receipt's or a manifest's `audit_chain_head` gives it."""
    match = EXPECTED_HEAD.fullmatch(value.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            "must be SEQ:HASH, an entry number from 1 and its 64 hex digit hash"
        )
    return AuditAnchor(int(match.group(1)), match.group(2).lower(), EXPECT_HEAD)


class Command(OperatorCommand):
    help = (
        "Verifies the audit chains (DESIGN section 3) from their first entry, one line per "
        "organization; exits 1 with a one-line reason if any is broken. With --expect-head "
        "(a receipt's or an export manifest's audit_chain_head) or --checkpoints, also proves "
        "that no chain was cut short or rewritten below a head recorded outside the database."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--org",
            type=bounded_int_arg(low=1),
            metavar="N",
            help="Only the chain of the organization with this id.",
        )
        parser.add_argument(
            "--expect-head",
            type=expected_head_arg,
            metavar="SEQ:HASH",
            help="The chain must still hold entry SEQ with this hash (needs --org).",
        )
        parser.add_argument(
            "--checkpoints",
            action="store_true",
            help="Also check every chain against each daily checkpoint in private storage.",
        )

    def handle(self, *args, **options) -> None:
        organization_id: int | None = options["org"]
        expected: AuditAnchor | None = options["expect_head"]
        if expected is not None and organization_id is None:
            raise CommandError(
                "--expect-head needs --org: a head belongs to one organization's chain.",
                returncode=BAD_ARGUMENTS,
            )
        anchors: dict[int, list[AuditAnchor]] = {}
        checkpoints = self._checkpoints() if options["checkpoints"] else []
        for checkpoint in checkpoints:
            for anchored_id, anchor in checkpoint.heads.items():
                anchors.setdefault(anchored_id, []).append(anchor)
        if expected is not None and organization_id is not None:
            anchors.setdefault(organization_id, []).append(expected)

        names = dict(Organization.objects.values_list("id", "name"))
        if organization_id is not None:
            if organization_id not in names and organization_id not in anchors:
                raise CommandError(f"No organization has id {organization_id}.")
            organization_ids = [organization_id]
        else:
            # Checkpoints may name an organization whose row is gone with its whole chain.
            organization_ids = sorted(set(names) | set(anchors))

        broken: list[ChainBreak] = []
        for each_id in organization_ids:
            check = audit_chain_check(organization_id=each_id, anchors=anchors.get(each_id, ()))
            label = (
                f"organization {each_id} ({names[each_id]!r})"
                if each_id in names
                else f"organization {each_id} (no such organization)"
            )
            self.stdout.write(f"{label}: {self._outcome(check, anchors.get(each_id, []))}")
            if check.chain_break is not None:
                broken.append(check.chain_break)
        if options["checkpoints"] and not checkpoints:
            self.stderr.write("No audit checkpoint is stored yet: checked the chains alone.")
        if broken:
            first = broken[0]
            raise CommandError(
                f"{len(broken)} of {len(organization_ids)} audit chains broken; the first: "
                f"organization {first.organization_id} at entry #{first.seq}: {first.reason}."
            )

    @staticmethod
    def _checkpoints() -> list[Checkpoint]:
        try:
            return audit_checkpoints_read()
        except CheckpointUnreadable as exc:
            raise CommandError(str(exc)) from exc
        except STORAGE_ERRORS as exc:
            raise CommandError(
                f"Could not read the audit checkpoints from private storage "
                f"({type(exc).__name__}: {exc})."
            ) from exc

    @staticmethod
    def _outcome(check: ChainCheck, anchors: list[AuditAnchor]) -> str:
        chain_break = check.chain_break
        if chain_break is not None:
            where = f"entry #{chain_break.seq}"
            if chain_break.entry_id is not None:
                where += f" (id {chain_break.entry_id})"
            return f"BROKEN at {where}: {chain_break.reason}"
        if check.head is None:
            text = "intact, no entries"
        else:
            entries = "1 entry" if check.entries == 1 else f"{check.entries} entries"
            text = f"intact, {entries}, head {check.head.expect_head}"
        held = []
        if any(anchor.source == EXPECT_HEAD for anchor in anchors):
            held.append("the expected head")
        if in_checkpoints := sum(anchor.source != EXPECT_HEAD for anchor in anchors):
            held.append(f"the heads of {in_checkpoints} checkpoint(s)")
        if held:
            text += f"; holds {' and '.join(held)}"
        return text
