"""The callbacks' signature (issue 19): the Standard Webhooks scheme, checkable by receivers."""

import json

import pytest

from privacy_requests.callbacks.signing import (
    SignatureInvalid,
    secret_generate,
    signature_for,
    signature_verify,
    signed_headers,
)

NOW = 1_800_000_000


def test_the_signature_is_the_standard_webhooks_one():
    # The example of the Standard Webhooks specification, so its libraries verify ours.
    signature = signature_for(
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        delivery_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=1614265330,
        body=b'{"test": 2432232314}',
    )

    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_signed_body_verifies_with_its_secret():
    secret = secret_generate()
    body = json.dumps({"event": "succeeded"}).encode()
    headers = signed_headers(secret=secret, delivery_id="msg_1", body=body, now=NOW)

    signature_verify(secret=secret, headers=headers, body=body, now=NOW + 10)

    assert headers["webhook-timestamp"] == str(NOW)
    assert headers["webhook-id"] == "msg_1"
    assert secret.startswith("whsec_")


@pytest.mark.parametrize(
    "change",
    ["body", "timestamp", "id", "secret"],
)
def test_anything_changed_fails_verification(change):
    secret = secret_generate()
    body = b'{"event":"succeeded"}'
    headers = signed_headers(secret=secret, delivery_id="msg_1", body=body, now=NOW)
    if change == "body":
        body = b'{"event":"failed"}'
    elif change == "timestamp":
        headers["webhook-timestamp"] = str(NOW + 1)
    elif change == "id":
        headers["webhook-id"] = "msg_2"
    else:
        secret = secret_generate()

    with pytest.raises(SignatureInvalid, match="no signature matches"):
        signature_verify(secret=secret, headers=headers, body=body, now=NOW)


def test_a_replay_is_refused_by_its_timestamp():
    secret = secret_generate()
    body = b'{"event":"succeeded"}'
    headers = signed_headers(secret=secret, delivery_id="msg_1", body=body, now=NOW)

    with pytest.raises(SignatureInvalid, match="too old"):
        signature_verify(secret=secret, headers=headers, body=body, now=NOW + 301)


def test_one_matching_signature_of_several_is_enough():
    secret = secret_generate()
    body = b"{}"
    headers = signed_headers(secret=secret, delivery_id="msg_1", body=body, now=NOW)
    headers["webhook-signature"] = "v1,bm90IGl0 " + headers["webhook-signature"]

    signature_verify(secret=secret, headers=headers, body=body, now=NOW)


def test_missing_headers_are_refused():
    with pytest.raises(SignatureInvalid, match="missing"):
        signature_verify(secret=secret_generate(), headers={}, body=b"{}", now=NOW)


def test_the_readmes_receiver_example_verifies_our_callbacks_and_refuses_replays():
    from pathlib import Path

    from django.conf import settings

    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    section = readme[readme.index("### Signed callbacks instead of polling") :]
    code = section[section.index("```python\n") + 10 : section.index("```\n", 10)]
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - the README's own example, run as a receiver would
    verify = namespace["verify"]
    secret = secret_generate()
    body = b'{"event":"succeeded"}'
    headers = signed_headers(secret=secret, delivery_id="msg_1", body=body)

    verify(secret, headers, body)
    with pytest.raises(ValueError, match="bad signature"):
        verify(secret, headers, body + b" ")
    old = signed_headers(secret=secret, delivery_id="msg_1", body=body, now=NOW)
    with pytest.raises(ValueError, match="replay"):
        verify(secret, old, body)
