"""Who acted, in plain words on the customers' pages (issue 17, item 5): never the internal
"web:owner@acme.test (Web)"."""

import pytest
from django.urls import reverse

from privacy_requests.web.presenters import actor_in_words

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("web:owner@acme.test", "owner@acme.test on this site"),
        ("api:owner@acme.test", "owner@acme.test through the API"),
        ("api:service-account:sa-acme-1", "Service account sa-acme-1 through the API"),
        ("staff:ops@vendor.test", "our support team"),
        ("system", "Automatically, by this service"),
        ("cli", "Our operators"),
        ("link", "Someone with the download link"),
        ("something-new", "something-new"),
    ],
)
def test_actor_in_words(text, words):
    assert actor_in_words(text) == words


def test_the_request_pages_say_who_in_words(client, submit, owner_actor):
    request = submit(distinct_ids=["alice"], run=True)
    client.force_login(owner_actor.user)
    email = owner_actor.user.email

    detail = client.get(
        reverse("privacy_web:detail", args=[request.organization_id, request.tracking_id])
    ).content.decode()
    listing = client.get(reverse("privacy_web:list", args=[request.organization_id]))

    assert f'<dt>Requested by</dt><dd class="wrap">{email} on this site</dd>' in detail
    assert f">{email} on this site</td>" in detail  # the audit trail's submitted entry
    assert ">Automatically, by this service</td>" in detail  # the worker's entries
    assert f"web:{email}" not in detail
    assert "(Web)" not in detail
    assert f"{email} on this site" in listing.content.decode()
    assert f"web:{email}" not in listing.content.decode()
