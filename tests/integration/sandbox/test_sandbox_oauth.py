"""OAuth2 over HTTP (guide section 2) and the gateway's checks of every API call."""

from __future__ import annotations

import logging

import httpx
import pytest
from pydantic import SecretStr

from workers.cesce import catalogue as cat
from workers.cesce.assumptions import CLIENT_ID_HEADER
from workers.sandbox import Credentials, RunningSandbox, SandboxConfig, serve_in_thread
from workers.sandbox.admin_client import shared_tls_context

pytestmark = pytest.mark.integration

SUBSIDIARIES = "/sales/v1/contracts/34109150331/subsidiaries?languageCode=ES"
PASSWORD_GRANT = {
    "grant_type": "password",
    "client_id": "app",
    "client_secret": "app-secret",
    "username": "user",
    "password": "user-password",
    "scope": "read create",
}


def token_call(sandbox: RunningSandbox, form: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{sandbox.base_url}/oauth2/v1/token", data=form, verify=shared_tls_context())


def call_api(sandbox: RunningSandbox, access_token: str | None, client_id: str | None = "app") -> httpx.Response:
    headers = {}
    if access_token is not None:
        headers["Authorization"] = f"Bearer {access_token}"
    if client_id is not None:
        headers[CLIENT_ID_HEADER] = client_id
    return httpx.get(sandbox.base_url + SUBSIDIARIES, headers=headers, verify=shared_tls_context())


def error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()["error"]
    return response.status_code, body["errorCode"], body["errorDescription"]


SECURITY = (401, cat.ERROR_CODE_UNAUTHORIZED, cat.MSG_SECURITY_CHECKS)
SUBSCRIPTION = (401, cat.ERROR_CODE_UNAUTHORIZED, cat.MSG_SUBSCRIPTION)
DENIED = {"error": "invalid_grant", "error_description": cat.MSG_RESOURCE_OWNER_DENIED}


def test_a_password_grant_answers_in_the_guides_shape(sandbox: RunningSandbox) -> None:
    response = token_call(sandbox, PASSWORD_GRANT)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "token_type", "access_token", "expires_in", "consented_on", "scope", "refresh_token", "refresh_token_expires_in"
    }  # fmt: skip
    assert (body["token_type"], body["expires_in"], body["refresh_token_expires_in"]) == ("Bearer", 3600, 2592000)
    assert body["scope"] == "read create"
    assert abs(body["consented_on"] - sandbox.admin().now().timestamp()) < 5
    assert len(body["access_token"]) >= 32
    assert body["access_token"] != body["refresh_token"]
    assert call_api(sandbox, body["access_token"]).status_code == 200


def test_without_a_scope_every_scope_is_granted(sandbox: RunningSandbox) -> None:
    form = {k: v for k, v in PASSWORD_GRANT.items() if k != "scope"}
    assert token_call(sandbox, form).json()["scope"] == "create read update delete"
    assert token_call(sandbox, PASSWORD_GRANT | {"scope": "read admin"}).json()["error"] == "invalid_scope"


@pytest.mark.parametrize("field", ["client_id", "client_secret", "username", "password"])
@pytest.mark.parametrize("value", ["", " "])
def test_empty_credentials_are_denied(sandbox: RunningSandbox, field: str, value: str) -> None:
    response = token_call(sandbox, PASSWORD_GRANT | {field: value})
    assert (response.status_code, response.json()) == (400, DENIED)


@pytest.mark.parametrize("missing", ["grant_type", "client_id", "client_secret"])
def test_missing_parameters_are_invalid_requests(sandbox: RunningSandbox, missing: str) -> None:
    response = token_call(sandbox, {k: v for k, v in PASSWORD_GRANT.items() if k != missing})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert missing in response.json()["error_description"]


def test_an_unknown_grant_type_is_refused(sandbox: RunningSandbox) -> None:
    response = token_call(sandbox, PASSWORD_GRANT | {"grant_type": "client_credentials"})
    assert (response.status_code, response.json()["error"]) == (400, "unsupported_grant_type")


def test_a_refresh_gives_a_new_pair_and_spends_the_old_refresh_token(sandbox: RunningSandbox) -> None:
    first = token_call(sandbox, PASSWORD_GRANT).json()
    refresh = {"grant_type": "refresh_token", "client_id": "app", "client_secret": "app-secret"}
    second = token_call(sandbox, refresh | {"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    renewed = second.json()
    assert renewed["refresh_token"] != first["refresh_token"]
    assert renewed["access_token"] != first["access_token"]
    assert renewed["scope"] == "read create"
    assert call_api(sandbox, renewed["access_token"]).status_code == 200
    spent = token_call(sandbox, refresh | {"refresh_token": first["refresh_token"]})
    assert (spent.status_code, spent.json()) == (400, DENIED)
    assert token_call(sandbox, refresh | {"refresh_token": renewed["refresh_token"]}).status_code == 200


def test_a_refresh_token_is_bound_to_its_client(sandbox: RunningSandbox) -> None:
    first = token_call(sandbox, PASSWORD_GRANT).json()
    form = {
        "grant_type": "refresh_token",
        "client_id": "other",
        "client_secret": "x",
        "refresh_token": first["refresh_token"],
    }
    assert token_call(sandbox, form).json() == DENIED
    unknown = {"grant_type": "refresh_token", "client_id": "app", "client_secret": "s", "refresh_token": "nope"}
    assert token_call(sandbox, unknown).json() == DENIED


def test_an_access_token_expires_after_its_ttl_on_the_sandbox_clock(sandbox: RunningSandbox) -> None:
    body = token_call(sandbox, PASSWORD_GRANT).json()
    admin = sandbox.admin()
    admin.advance_clock(3599)
    assert call_api(sandbox, body["access_token"]).status_code == 200
    admin.advance_clock(1)
    assert error(call_api(sandbox, body["access_token"])) == SECURITY
    refreshed = token_call(
        sandbox,
        {
            "grant_type": "refresh_token",
            "client_id": "app",
            "client_secret": "s",
            "refresh_token": body["refresh_token"],
        },
    )
    assert call_api(sandbox, refreshed.json()["access_token"]).status_code == 200


def test_a_refresh_token_expires_too(sandbox: RunningSandbox) -> None:
    body = token_call(sandbox, PASSWORD_GRANT).json()
    sandbox.admin().advance_clock(2592000)
    form = {
        "grant_type": "refresh_token",
        "client_id": "app",
        "client_secret": "s",
        "refresh_token": body["refresh_token"],
    }
    assert token_call(sandbox, form).json() == DENIED


def test_revoking_invalidates_access_tokens_but_not_refresh_tokens(sandbox: RunningSandbox) -> None:
    body = token_call(sandbox, PASSWORD_GRANT).json()
    assert sandbox.admin().revoke_tokens() == 1
    assert error(call_api(sandbox, body["access_token"])) == SECURITY
    form = {
        "grant_type": "refresh_token",
        "client_id": "app",
        "client_secret": "s",
        "refresh_token": body["refresh_token"],
    }
    assert call_api(sandbox, token_call(sandbox, form).json()["access_token"]).status_code == 200


@pytest.mark.parametrize(
    ("access_token", "client_id", "expected"),
    [
        ("valid", None, SUBSCRIPTION),
        ("valid", "", SUBSCRIPTION),
        (None, "app", SECURITY),
        ("not-a-token", "app", SECURITY),
        ("valid", "another-app", SECURITY),  # a token is bound to the application it was issued to
    ],
)
def test_api_calls_need_the_client_id_header_and_a_valid_bearer(
    sandbox: RunningSandbox, access_token: str | None, client_id: str | None, expected: tuple[int, str, str]
) -> None:
    valid = token_call(sandbox, PASSWORD_GRANT).json()["access_token"]
    response = call_api(sandbox, valid if access_token == "valid" else access_token, client_id)
    assert error(response) == expected
    assert set(response.json()) == {"error"}


def test_a_non_bearer_authorization_is_refused(sandbox: RunningSandbox) -> None:
    valid = token_call(sandbox, PASSWORD_GRANT).json()["access_token"]
    response = httpx.get(
        sandbox.base_url + SUBSIDIARIES,
        headers={"Authorization": f"Basic {valid}", CLIENT_ID_HEADER: "app"},
        verify=shared_tls_context(),
    )
    assert error(response) == SECURITY


FIXED = Credentials(
    client_id="fixed-app",
    client_secret=SecretStr("fixed-secret"),
    username="fixed-user",
    password=SecretStr("fixed-pw"),
)


def test_with_fixed_credentials_only_those_are_accepted() -> None:
    good = {"grant_type": "password", "client_id": "fixed-app", "client_secret": "fixed-secret"}
    good |= {"username": "fixed-user", "password": "fixed-pw"}
    with serve_in_thread(SandboxConfig(credentials=FIXED)) as running:
        accepted = token_call(running, good)
        refused = [
            token_call(running, good | {name: good[name] + "x"})
            for name in ("client_id", "client_secret", "username", "password")
        ]
        access = accepted.json()["access_token"]
        ok = call_api(running, access, "fixed-app")
        other_app = call_api(running, access, "some-app")
        refresh = token_call(
            running,
            {"grant_type": "refresh_token", "client_id": "fixed-app", "client_secret": "wrong"}
            | {"refresh_token": accepted.json()["refresh_token"]},
        )
    assert accepted.status_code == 200
    assert all((r.status_code, r.json()) == (400, DENIED) for r in refused)
    assert ok.status_code == 200
    assert error(other_app) == SUBSCRIPTION
    assert refresh.json() == DENIED


def test_secrets_never_appear_in_logs_or_reprs(sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = token_call(sandbox, PASSWORD_GRANT).json()
    call_api(sandbox, body["access_token"])
    call_api(sandbox, "wrong-token")
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    for secret in (body["access_token"], body["refresh_token"], "app-secret", "user-password", "wrong-token"):
        assert secret not in logged
    assert "fixed-secret" not in repr(FIXED)
    assert "fixed-pw" not in repr(SandboxConfig(credentials=FIXED))


def test_the_token_endpoint_is_not_faulted(sandbox: RunningSandbox) -> None:
    sandbox.admin().set_faults(maintenance=True, error_rate=1.0)
    assert token_call(sandbox, PASSWORD_GRANT).status_code == 200


def test_a_form_in_another_encoding_is_an_invalid_request(sandbox: RunningSandbox) -> None:
    response = httpx.post(f"{sandbox.base_url}/oauth2/v1/token", json=PASSWORD_GRANT, verify=shared_tls_context())
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


def test_the_token_answer_is_not_cached(sandbox: RunningSandbox) -> None:
    response = token_call(sandbox, PASSWORD_GRANT)
    assert response.headers["cache-control"] == "no-store"
