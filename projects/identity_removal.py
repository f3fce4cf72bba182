"""Removing a deletion's subjects from identity clusters, and their link records.

A subject set need not hold whole clusters any more: a person may leave linked ids out, and
under the `authenticated` rule public members are not followed. So removing a chunk of subjects
takes, under the project's identity lock:
1. the cluster rows of the subjects themselves;
2. the rows of ids that stay but whose root is a subject (the root's id must not survive as a
   label): the ids that stay are grouped again by the formed links among them (their records),
   each group under a new root, its smallest id; an id left alone has no row. So ids that were
   together only through the deleted id are no longer together (an attacker's id linked to
   two strangers does not leave the two linked to each other);
3. every link record that names a subject, on either side.
Set-based: a few statements per chunk, whatever the clusters' sizes.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from projects.chunking import in_chunks
from projects.identity import identity_writes_lock
from projects.link_records import identity_links_repoint
from projects.models import IdentityLink, IdentityLinkRecord, LinkRecordOutcome
from projects.store_deletes import any_of, store_rows_delete, store_rows_update


@dataclass(frozen=True)
class IdentityRemoval:
    links: int  # cluster rows removed
    records: int  # link records removed


def identity_of_ids_remove(*, project_id: int, distinct_ids: Sequence[str]) -> IdentityRemoval:
    """Removes one chunk of subjects' identity data (module docstring); the caller bounds the
    chunk (projects.chunking)."""
    ids = list(distinct_ids)
    if not ids:
        return IdentityRemoval(links=0, records=0)
    with transaction.atomic():
        identity_writes_lock(project_id=project_id)
        links = store_rows_delete(IdentityLink, project_id=project_id, distinct_ids=ids)
        links += _regroup_orphans(project_id=project_id, roots=ids)
        records = _records_remove(project_id=project_id, ids=ids)
    return IdentityRemoval(links=links, records=records)


def _records_remove(*, project_id: int, ids: list[str]) -> int:
    """The link records of these ids and those that name them as `canonical_id`. Every
    statement that changes rows names their distinct_ids (projects.store_deletes): the records
    that name a subject, and the links that point at a record, are read first."""
    records = IdentityLinkRecord.objects.filter(project_id=project_id)
    own = list(records.filter(distinct_id__any=ids).values_list("id", flat=True))
    named = list(records.filter(canonical_id__any=ids).values_list("id", "distinct_id"))
    removed = own + [record_id for record_id, _ in named]
    if not removed:
        return 0
    # Rows that stay and pointed at a removed record keep no record (SET NULL, not counted).
    pointing = list(
        IdentityLink.objects.filter(project_id=project_id, record_id__in=removed)
        .values_list("distinct_id", flat=True)
        .distinct()
    )
    for chunk in in_chunks(pointing):
        in_removed, removed_params = any_of('"record_id"', removed)
        store_rows_update(
            IdentityLink,
            project_id=project_id,
            distinct_ids=chunk,
            assignments='"record_id" = NULL',
            where=f"AND {in_removed}",
            params=removed_params,
        )
    count = store_rows_delete(IdentityLinkRecord, project_id=project_id, distinct_ids=ids)
    others = sorted({distinct_id for _, distinct_id in named} - set(ids))
    for chunk in in_chunks(others):
        named_sql, named_params = any_of('"canonical_id"', ids)
        count += store_rows_delete(
            IdentityLinkRecord,
            project_id=project_id,
            distinct_ids=chunk,
            where=f"AND {named_sql}",
            params=named_params,
        )
    return count


def _regroup_orphans(*, project_id: int, roots: list[str]) -> int:
    """Regroups the ids whose root is being removed; returns how many rows it deleted."""
    orphans = list(
        IdentityLink.objects.filter(project_id=project_id, canonical_id__any=roots).values_list(
            "distinct_id", "canonical_id"
        )
    )
    if not orphans:
        return 0
    old_root = dict(orphans)
    parent = {distinct_id: distinct_id for distinct_id in old_root}

    def find(distinct_id: str) -> str:
        while parent[distinct_id] != distinct_id:
            parent[distinct_id] = parent[parent[distinct_id]]
            distinct_id = parent[distinct_id]
        return distinct_id

    for chunk in in_chunks(list(old_root)):
        edges = IdentityLinkRecord.objects.filter(
            project_id=project_id, outcome=LinkRecordOutcome.FORMED, distinct_id__any=chunk
        ).values_list("distinct_id", "canonical_id")
        for first, second in edges:
            # Only links between two ids that stay, of the same old cluster.
            if second in old_root and old_root[second] == old_root[first]:
                a, b = find(first), find(second)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    groups: dict[str, list[str]] = {}
    for distinct_id in old_root:
        groups.setdefault(find(distinct_id), []).append(distinct_id)
    # A group's new root is its smallest id (union by min): it loses its row, the others
    # point at it; an id alone loses its row.
    rootless = list(groups)
    moves = [
        (distinct_id, root)
        for root, members in groups.items()
        for distinct_id in members
        if distinct_id != root
    ]
    deleted = 0
    for chunk in in_chunks(rootless):
        deleted += store_rows_delete(IdentityLink, project_id=project_id, distinct_ids=chunk)
    identity_links_repoint(project_id=project_id, roots=moves)
    return deleted
