"""Provenance of identity links (issue 14, items 1, 2 and 4): every link request ingestion sees
is recorded with its kind, ids, endpoint, public or authenticated ingestion, `$insert_id` and
outcome; under the project's `authenticated` rule public links form nothing and cannot fill a
cluster."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from projects import identity
from projects.identity import LinkProvenance, LinkRequest, identity_links_apply
from projects.link_records import UNCHANGED_WRITE_INTERVAL
from projects.models import (
    IdentityKind,
    IdentityLink,
    IdentityLinkRecord,
    IdentityLinksFrom,
    LinkRecordOutcome,
    SuppressedId,
)
from projects.pii import distinct_id_hmac
from tests.projects.ingestion_support import basic_auth, event, post_data, post_import

pytestmark = pytest.mark.django_db

PUBLIC = LinkProvenance(endpoint="track", authenticated=False)
SECRET = LinkProvenance(endpoint="import", authenticated=True, principal="project-secret")


def records(project) -> list[tuple]:
    return list(
        IdentityLinkRecord.objects.filter(project=project)
        .order_by("distinct_id", "canonical_id", "outcome")
        .values_list(
            "distinct_id",
            "canonical_id",
            "kind",
            "authenticated",
            "endpoint",
            "principal",
            "outcome",
            "reason",
            "insert_id",
            "count",
        )
    )


def rows(project) -> list[tuple]:
    return list(
        IdentityLink.objects.filter(project=project)
        .order_by("distinct_id")
        .values_list("distinct_id", "canonical_id", "kind", "authenticated")
    )


def rule(project, value: str) -> None:
    project.identity_links_from = value
    project.save(update_fields=["identity_links_from"])


def identify(token, identified, anon, insert_id="ins-identify"):
    return {
        "event": "$identify",
        "properties": {
            "token": token,
            "$identified_id": identified,
            "$anon_id": anon,
            "$insert_id": insert_id,
        },
    }


def alias(token, original, new_alias, insert_id="ins-alias"):
    return {
        "event": "$create_alias",
        "properties": {
            "token": token,
            "distinct_id": original,
            "alias": new_alias,
            "$insert_id": insert_id,
        },
    }


# --- what is recorded -----------------------------------------------------------------------


def test_a_public_link_through_track_is_recorded_as_public_and_forms_its_row(client, project):
    response = post_data(client, "/track", [identify(project.token, "user-1", "anon-1")])

    assert response.content == b"1"
    assert records(project) == [
        ("anon-1", "user-1", "identify", False, "track", "", "formed", "", "ins-identify", 1)
    ]
    assert rows(project) == [("anon-1", "user-1", "identify", False)]
    link = IdentityLink.objects.get(project=project)
    assert link.record == IdentityLinkRecord.objects.get(project=project)


def test_a_link_through_import_is_recorded_as_authenticated_with_whose_credentials(
    client, project, make_service_account
):
    post_import(client, [alias(project.token, "user-1", "alias-1")])
    account, secret = make_service_account("admin")
    response = client.post(
        f"/import?strict=1&project_id={project.id}",
        data=f'[{{"event":"$merge","properties":{{"$distinct_ids":["user-1","other"],'
        f'"$insert_id":"ins-merge","time":{int(timezone.now().timestamp()) - 60}}}}}]',
        content_type="application/json",
        headers={"authorization": basic_auth(account.username, secret)},
    )

    assert response.status_code == 200, response.content
    assert records(project) == [
        (
            "alias-1",
            "user-1",
            "alias",
            True,
            "import",
            "project-secret",
            "formed",
            "",
            "ins-alias",
            1,
        ),
        (
            "other",
            "user-1",
            "merge",
            True,
            "import",
            f"service-account:{account.username}",
            "formed",
            "",
            "ins-merge",
            1,
        ),
    ]
    assert rows(project) == [
        ("alias-1", "user-1", "alias", True),
        ("other", "user-1", "merge", True),
    ]


def test_an_sdk_sending_its_device_link_with_every_event_adds_no_record_per_batch(client, project):
    def batch(number):
        post_data(
            client,
            "/track",
            [
                event(
                    project.token,
                    distinct_id=...,
                    **{"$device_id": "phone", "$user_id": "user-1"},
                    **{"$insert_id": f"ev-{number}-{n}"},
                )
                for n in range(4)
            ],
        )

    for number in range(3):
        batch(number)
    assert records(project) == [
        ("$device:phone", "user-1", "device", False, "track", "", "formed", "", "ev-0-0", 1),
        # Later batches: the same link, already in place (one batch asks once). Repeats within
        # a minute of the last recorded sight are not written again.
        ("$device:phone", "user-1", "device", False, "track", "", "unchanged", "", "ev-1-0", 1),
    ]

    unchanged = IdentityLinkRecord.objects.get(project=project, outcome="unchanged")
    earlier = unchanged.last_seen_at - UNCHANGED_WRITE_INTERVAL - timedelta(seconds=1)
    IdentityLinkRecord.objects.filter(pk=unchanged.pk).update(last_seen_at=earlier)
    batch(3)

    unchanged.refresh_from_db()
    assert (unchanged.count, unchanged.insert_id) == (2, "ev-1-0")
    assert unchanged.last_seen_at > earlier
    assert IdentityLinkRecord.objects.filter(project=project).count() == 2


def test_refused_links_are_recorded_with_their_reason(client, project, monkeypatch):
    monkeypatch.setattr(identity, "IDENTITY_CLUSTER_MAX_IDS", 3)
    response = post_data(
        client,
        "/track",
        [
            alias(project.token, "user-1", "a1", insert_id="i1"),
            alias(project.token, "user-1", "a2", insert_id="i2"),
            alias(project.token, "user-1", "a3", insert_id="i3"),  # the cap: 3 ids
            alias(project.token, "user-2", "a1", insert_id="i4"),  # a1 maps to user-1
            identify(project.token, "user-2", "a2", insert_id="i5"),  # a2 is user-1's
            event(project.token, distinct_id=..., **{"$device_id": "d", "$user_id": "user-1"}),
            event(project.token, distinct_id=..., **{"$device_id": "d", "$user_id": "user-2"}),
        ],
        verbose=1,
    )

    assert response.json()["status"] == 1
    refused = {
        (distinct_id, canonical_id, reason)
        for distinct_id, canonical_id, _, _, _, _, outcome, reason, _, _ in records(project)
        if outcome == "refused"
    }
    assert refused == {
        ("a3", "user-1", "cluster_full"),
        ("a1", "user-2", "alias_mapped"),
        ("a2", "user-2", "anon_identified"),
        ("$device:d", "user-1", "cluster_full"),
    }
    # The device joined user-2 (user-1's cluster was full): the second pair formed.
    assert ("$device:d", "user-2", "device", False) in rows(project)


def test_an_insert_id_that_cannot_be_stored_is_left_out_of_the_record(client, project):
    response = post_data(
        client,
        "/track",
        [
            identify(project.token, "user-1", "anon-1", insert_id="x" * 37),
            alias(project.token, "user-1", "alias-1", insert_id=42),
        ],
    )

    assert response.content == b"1"
    assert [record[8] for record in records(project)] == ["", ""]


def test_links_of_suppressed_ids_leave_no_record(client, project):
    project.suppress_deleted_ids = True
    project.save(update_fields=["suppress_deleted_ids"])
    SuppressedId.objects.create(
        project=project, id_hmac=distinct_id_hmac(project_id=project.id, distinct_id="gone")
    )

    post_data(client, "/track", [identify(project.token, "gone", "anon-1")])

    assert records(project) == []
    assert rows(project) == []


def test_a_batch_without_links_asks_nothing_of_identity_tables(client, project):
    with CaptureQueriesContext(connection) as captured:
        response = post_data(client, "/track", [event(project.token, distinct_id="alice")])

    assert response.content == b"1"
    assert not [q for q in captured.captured_queries if "identitylink" in q["sql"].lower()]
    assert records(project) == []


# --- the `authenticated` rule -----------------------------------------------------------------


def test_under_authenticated_a_public_link_is_unverified_and_forms_nothing(client, project):
    rule(project, IdentityLinksFrom.AUTHENTICATED)

    response = post_data(
        client,
        "/track",
        [identify(project.token, "attacker-1", "victim-123"), alias(project.token, "v", "a-2")],
        verbose=1,
    )

    # Accepted as Mixpanel's clients expect: the records were valid.
    assert response.json() == {"status": 1, "error": None}
    assert rows(project) == []
    assert [(r[0], r[1], r[3], r[6]) for r in records(project)] == [
        ("a-2", "v", False, "unverified"),
        ("victim-123", "attacker-1", False, "unverified"),
    ]


def test_under_authenticated_links_from_import_form_clusters(client, project):
    rule(project, IdentityLinksFrom.AUTHENTICATED)

    post_import(client, [alias(project.token, "user-1", "alias-1")])

    assert rows(project) == [("alias-1", "user-1", "alias", True)]


def test_under_authenticated_public_links_cannot_fill_a_cluster(project, monkeypatch):
    monkeypatch.setattr(identity, "IDENTITY_CLUSTER_MAX_IDS", 5)
    rule(project, IdentityLinksFrom.AUTHENTICATED)
    identity_links_apply(
        project=project, links=[LinkRequest("victim-phone", "victim", IdentityKind.DEVICE)]
    )

    flood = identity_links_apply(
        project=project,
        links=[LinkRequest(f"fake-{n}", "victim", IdentityKind.ALIAS) for n in range(12)],
        provenance=PUBLIC,
    )
    later = identity_links_apply(
        project=project,
        links=[LinkRequest("$device:new-laptop", "victim", IdentityKind.DEVICE)],
        provenance=SECRET,
    )

    assert (flood.applied, flood.unverified, flood.refused) == (0, 12, [])
    assert later.applied == 1
    assert rows(project) == [
        ("$device:new-laptop", "victim", "device", True),
        ("victim-phone", "victim", "device", True),
    ]


def test_under_any_public_links_fill_a_cluster_and_a_later_real_link_is_refused(
    project, monkeypatch
):
    monkeypatch.setattr(identity, "IDENTITY_CLUSTER_MAX_IDS", 5)
    identity_links_apply(
        project=project,
        links=[LinkRequest(f"fake-{n}", "victim", IdentityKind.ALIAS) for n in range(12)],
        provenance=PUBLIC,
    )
    later = identity_links_apply(
        project=project,
        links=[LinkRequest("$device:new-laptop", "victim", IdentityKind.DEVICE)],
        provenance=SECRET,
    )

    assert later.refused == [(0, "the identity cluster already holds 5 ids, the limit")]
    assert IdentityLink.objects.filter(project=project, canonical_id="victim").count() == 4
    refused = IdentityLinkRecord.objects.get(project=project, distinct_id="$device:new-laptop")
    assert (refused.outcome, refused.reason, refused.authenticated) == (
        "refused",
        "cluster_full",
        True,
    )


def test_after_a_switch_old_public_rows_stay_but_the_cap_does_not_count_them(project, monkeypatch):
    monkeypatch.setattr(identity, "IDENTITY_CLUSTER_MAX_IDS", 4)
    identity_links_apply(
        project=project,
        links=[LinkRequest(f"fake-{n}", "victim", IdentityKind.ALIAS) for n in range(3)],
        provenance=PUBLIC,
    )
    rule(project, IdentityLinksFrom.AUTHENTICATED)

    outcome = identity_links_apply(
        project=project,
        links=[LinkRequest(f"phone-{n}", "victim", IdentityKind.DEVICE) for n in range(4)],
        provenance=SECRET,
    )

    # The root and 3 authenticated members fill the cap; the 3 public rows stay, uncounted.
    assert outcome.applied == 3
    assert outcome.refused == [(3, "the identity cluster already holds 4 ids, the limit")]
    assert IdentityLink.objects.filter(project=project, authenticated=False).count() == 3


def test_after_a_switch_an_authenticated_link_between_publicly_joined_ids_is_an_edge(project):
    identity_links_apply(
        project=project,
        links=[LinkRequest("anon-1", "user-1", IdentityKind.IDENTIFY)],
        provenance=PUBLIC,
    )
    rule(project, IdentityLinksFrom.AUTHENTICATED)

    outcome = identity_links_apply(
        project=project,
        links=[LinkRequest("anon-1", "user-1", IdentityKind.IDENTIFY)],
        provenance=SECRET,
    )
    again = identity_links_apply(
        project=project,
        links=[LinkRequest("anon-1", "user-1", IdentityKind.IDENTIFY)],
        provenance=SECRET,
    )

    assert outcome.applied == 1
    assert again.applied == 1  # still counted as an edge: the row stays public
    assert rows(project) == [("anon-1", "user-1", "identify", False)]
    formed = IdentityLinkRecord.objects.get(
        project=project, distinct_id="anon-1", authenticated=True
    )
    assert (formed.outcome, formed.count) == (LinkRecordOutcome.FORMED, 2)


def test_a_change_of_rule_applies_to_the_next_batch_read_under_the_lock(project):
    """The rule is read under the identity lock, not from the caller's (stale) object."""
    stale = type(project).objects.get(pk=project.pk)
    rule(project, IdentityLinksFrom.AUTHENTICATED)

    outcome = identity_links_apply(
        project=stale, links=[LinkRequest("a", "b", IdentityKind.ALIAS)], provenance=PUBLIC
    )

    assert outcome.unverified == 1
    assert rows(project) == []


def test_a_repeated_link_keeps_its_first_sight_and_insert_id_and_counts_the_rest(project):
    identity_links_apply(
        project=project,
        links=[LinkRequest("a", "b", IdentityKind.ALIAS, insert_id="first")] * 2,
        provenance=PUBLIC,
    )
    unchanged = IdentityLinkRecord.objects.get(project=project, outcome="unchanged")
    earlier = unchanged.first_seen_at - timedelta(days=1)
    IdentityLinkRecord.objects.filter(pk=unchanged.pk).update(
        first_seen_at=earlier, last_seen_at=earlier
    )

    identity_links_apply(
        project=project,
        links=[LinkRequest("a", "b", IdentityKind.ALIAS, insert_id="second")] * 3,
        provenance=PUBLIC,
    )

    unchanged.refresh_from_db()
    assert (unchanged.count, unchanged.insert_id, unchanged.first_seen_at) == (4, "first", earlier)
    assert unchanged.last_seen_at > earlier
    assert IdentityLinkRecord.objects.get(project=project, outcome="formed").count == 1
