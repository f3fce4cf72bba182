from http import HTTPStatus

import pytest


@pytest.mark.django_db
def test_whitenoise_serves_the_stylesheet_linked_by_every_page(client):
    page = client.get("/")
    stylesheet = client.get("/static/css/site.css")

    assert page.status_code == HTTPStatus.OK
    assert 'href="/static/css/site.css"' in page.content.decode()
    assert stylesheet.status_code == HTTPStatus.OK
    assert b"--accent" in b"".join(stylesheet.streaming_content)


def test_health_endpoint_answers_without_a_session(client):
    response = client.get("/healthz")

    assert response.status_code == HTTPStatus.OK
    assert response.json() == {"status": "ok"}
