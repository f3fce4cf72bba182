"""Error pages in the site's layout, with links only to what the person may open (issue 17,
item 5)."""

from http import HTTPStatus

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.views.defaults import server_error

pytestmark = pytest.mark.django_db


def test_a_missing_page_is_a_friendly_404_in_the_layout(client):
    response = client.get("/no-such-page/")

    assert response.status_code == HTTPStatus.NOT_FOUND
    page = response.content.decode()
    assert '<header class="site-header">' in page
    assert "<h1>Page not found</h1>" in page
    assert f'<a href="{reverse("account_login")}">sign in</a>' in page


def test_a_signed_in_person_is_sent_back_to_their_projects_from_a_404(client, member):
    client.force_login(member)

    page = client.get("/no-such-page/").content.decode()

    assert f'<a href="{reverse("projects:list")}">Go to your projects</a>' in page


def test_the_api_keeps_its_own_404_shape(client):
    response = client.get("/api/app/no-such-endpoint/")

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["status"] == "error"


def test_a_member_sees_the_reason_of_a_403_in_the_layout(client, member, organization):
    client.force_login(member)

    response = client.get(reverse("accounts:members", args=[organization.id]))

    assert response.status_code == HTTPStatus.FORBIDDEN
    page = response.content.decode()
    assert '<header class="site-header">' in page
    assert f"Only owners and admins of {organization.name} can see and manage" in page
    assert f'<a href="{reverse("projects:list")}">Go to your projects</a>' in page


def test_the_500_page_needs_no_request_and_no_database(django_assert_num_queries):
    with django_assert_num_queries(0):
        page = render_to_string("500.html")
        response = server_error(RequestFactory().get("/"))

    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    assert response.content.decode() == page
    assert "<h1>Something went wrong on our side</h1>" in page
    assert 'href="/static/css/site.css"' in page
    assert 'href="/static/favicon.svg"' in page


def test_a_members_projects_page_links_to_nothing_they_cannot_open(
    client, member, owner, organization, project
):
    client.force_login(member)

    page = client.get(reverse("projects:list")).content.decode()

    assert reverse("accounts:members", args=[organization.id]) not in page
    assert reverse("privacy_web:list", args=[organization.id]) not in page
    assert reverse("projects:settings", args=[project.id]) not in page
    assert f'{organization.name} <span class="muted">(you are a member)</span>' in page
    client.force_login(owner)
    assert reverse("accounts:members", args=[organization.id]) in (
        client.get(reverse("projects:list")).content.decode()
    )
