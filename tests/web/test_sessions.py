"""Sign-ins shared by several `oob serve` processes: one key from the environment, the sessions
in the run store's database; `Secure` cookies unless the server listens on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from oob.config import Config, parse
from oob.errors import ConfigError
from oob.sessions import StoredSessions
from oob.store import Store
from oob.web.auth import SESSION_COOKIE, Authenticator, Refused, RequestFacts
from oob.web.settings import is_loopback
from tests.support import behind_oobs_back
from tests.web.conftest import PO_TOKEN, TOKENS_WEB, FixedClock, MakeDashboard
from tests.web.test_app import csrf_of

KEY_ENV = "OOB_TEST_SESSION_KEY"
KEY = "k" * 40


@pytest.fixture
def shared_config(preset_text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    """The dashboard users of `web_config`, signing with the key in `KEY_ENV`."""
    monkeypatch.setenv(KEY_ENV, KEY)
    web = TOKENS_WEB.replace("[web]\n", f'[web]\nsession_key_env = "{KEY_ENV}"\n', 1)
    return parse(preset_text + web, tmp_path / "oob.toml")


def process(config: Config, store: Store, clock: FixedClock) -> Authenticator:
    """The authenticator of one `oob serve` process on `store`."""
    assert config.web is not None
    return Authenticator(config.web, clock, sessions=StoredSessions(store))


def presenting(cookie: str) -> RequestFacts:
    return RequestFacts(peer="10.0.0.9", headers={}, cookies={SESSION_COOKIE: cookie})


def test_a_session_is_good_in_every_process_until_it_ends_in_one(
    shared_config: Config, store: Store, clock: FixedClock
) -> None:
    first, second = process(shared_config, store, clock), process(shared_config, store, clock)
    cookie = first.new_session("cms-viewer")
    identity = second.identify(presenting(cookie))
    assert identity is not None
    assert identity.name == "cms-viewer"
    # The form token one process gave is accepted by the other.
    assert second.csrf_ok(identity, first.csrf_token(identity))
    second.end_session(identity)  # signed out through the other process
    for auth in (first, second, process(shared_config, store, clock)):  # and one started later
        with pytest.raises(Refused, match="you signed out of this session"):
            auth.identify(presenting(cookie))


def test_a_cookie_signed_with_another_key_is_refused(
    shared_config: Config,
    web_config: Config,
    store: Store,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shared = process(shared_config, store, clock).new_session("cms-viewer")
    alone = process(web_config, store, clock).new_session("cms-viewer")
    monkeypatch.setenv(KEY_ENV, "x" * 40)  # the shared key changed
    # Without a shared key each process signs alone: another one refuses what it signed.
    for config, cookie in ((shared_config, shared), (web_config, alone)):
        with pytest.raises(Refused, match="not valid here"):
            process(config, store, clock).identify(presenting(cookie))


def test_only_the_digest_of_a_session_is_stored(
    shared_config: Config, store: Store, clock: FixedClock
) -> None:
    import base64
    import json

    import sqlalchemy as sa

    cookie = process(shared_config, store, clock).new_session("cms-viewer")
    session = json.loads(base64.urlsafe_b64decode(cookie.partition(".")[0]))["s"]
    with behind_oobs_back(store) as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM oob_sessions"))]
    assert [r["user"] for r in rows] == ["cms-viewer"]
    assert session not in json.dumps(rows, default=str)
    assert KEY not in json.dumps(rows, default=str)


@pytest.mark.parametrize(
    ("value", "said"), [("", "is not set"), ("tiny-key", "is shorter than 32")]
)
def test_a_named_key_that_is_unset_or_short_stops_the_server(
    shared_config: Config,
    store: Store,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
    value: str,
    said: str,
) -> None:
    monkeypatch.setenv(KEY_ENV, value)
    with pytest.raises(ConfigError) as caught:
        process(shared_config, store, clock)
    assert f"{KEY_ENV} ([web] session_key_env) {said}" in caught.value.message
    assert "tiny-key" not in str(caught.value)  # never its value


# --- Secure cookies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("oob.example.org", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(("host", "secure"), [("127.0.0.1", False), ("0.0.0.0", True)])
def test_cookies_are_secure_unless_the_server_listens_on_loopback(
    make_dashboard: MakeDashboard, web_config: Config, host: str, secure: bool
) -> None:
    dashboard = make_dashboard(web_config, host)
    with dashboard.client(follow_redirects=False) as client:
        form = client.get("/login")
        # Sent back by hand: a client keeps a Secure cookie from going over plain HTTP.
        nonce = form.cookies["oob_login"]
        answer = client.post(
            "/login",
            data={"csrf_token": csrf_of(form.text), "token": PO_TOKEN},
            headers={"Cookie": f"oob_login={nonce}"},
        )
    assert answer.status_code == 303
    # The form's login cookie, then the session cookie (signing in deletes the login cookie).
    cookies = form.headers.get_list("set-cookie") + answer.headers.get_list("set-cookie")
    for name in ("oob_session=", "oob_login="):
        cookie = next(c for c in cookies if c.startswith(name))
        assert ("; secure" in cookie.lower()) is secure, cookie
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie


def test_doctor_says_whether_every_oob_serve_shares_sign_ins(
    shared_config: Config, preset_text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oob.doctor import _dashboard

    [shared] = _dashboard(shared_config)
    assert (shared.ok, shared.detail) == (
        True,
        f"{KEY_ENV} is set: every `oob serve` shares sign-ins",
    )
    monkeypatch.setenv(KEY_ENV, "tiny-secret")
    [short] = _dashboard(shared_config)
    assert not short.ok
    assert "shorter than" in short.detail
    assert "tiny-secret" not in f"{short.detail} {short.fix}"  # the value is never shown
    [alone] = _dashboard(parse(preset_text + TOKENS_WEB, tmp_path / "alone.toml"))
    assert alone.ok
    assert "do not cross to another" in alone.detail
