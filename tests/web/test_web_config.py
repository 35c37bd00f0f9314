"""The `[web]` table: how the dashboard identifies people; every mistake is one error."""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path

import pytest

from oob.config import parse
from oob.errors import ConfigError

SHA = "0" * 64


def _with_web(preset_text: str, web: str) -> str:
    return preset_text + "\n" + web


def test_preset_has_no_dashboard(preset_text: str, tmp_path: Path) -> None:
    assert parse(preset_text, tmp_path / "oob.toml").web is None


def test_sso_behind_trusted_proxies(preset_text: str, tmp_path: Path) -> None:
    text = _with_web(
        preset_text,
        '[web]\nidentity = "sso"\ntrusted_proxies = ["127.0.0.1", "10.0.0.0/8"]\n',
    )
    web = parse(text, tmp_path / "oob.toml").web
    assert web is not None
    assert web.sso_header == "X-Forwarded-Email"
    assert web.trusted_proxies == [ip_network("127.0.0.1/32"), ip_network("10.0.0.0/8")]


def test_tokens_from_environment_or_hash(preset_text: str, tmp_path: Path) -> None:
    text = _with_web(
        preset_text,
        '[web]\nidentity = "tokens"\n'
        '[web.users.cms-product-owner]\ntoken_env = "OOB_WEB_TOKEN_PO"\n'
        f'[web.users.cms-oncall]\ntoken_sha256 = "{SHA}"\n',
    )
    web = parse(text, tmp_path / "oob.toml").web
    assert web is not None
    assert web.users["cms-product-owner"].token_env == "OOB_WEB_TOKEN_PO"
    assert web.users["cms-oncall"].token_sha256 == SHA


def test_the_shared_key_and_metrics_are_off_unless_named(preset_text: str, tmp_path: Path) -> None:
    sso = '[web]\nidentity = "sso"\ntrusted_proxies = ["127.0.0.1"]\n'
    web = parse(_with_web(preset_text, sso), tmp_path / "oob.toml").web
    assert web is not None
    assert (web.session_key_env, web.metrics_public) == (None, False)
    named = sso + 'session_key_env = "OOB_WEB_KEY"\nmetrics_public = true\n'
    web = parse(_with_web(preset_text, named), tmp_path / "oob.toml").web
    assert web is not None
    assert (web.session_key_env, web.metrics_public) == ("OOB_WEB_KEY", True)


@pytest.mark.parametrize(
    ("web", "expected"),
    [
        ('[web]\nidentity = "sso"\n', 'identity = "sso" needs `trusted_proxies`'),
        ('[web]\nidentity = "tokens"\n', "needs at least one [web.users.NAME]"),
        ('[web]\nidentity = "password"\n', "web.identity"),
        ('[web]\nidentity = "sso"\ntrusted_proxies = ["proxy.local"]\n', "web.trusted_proxies"),
        (
            '[web]\nidentity = "sso"\ntrusted_proxies = ["127.0.0.1"]\nsso_hedaer = "X-User"\n',
            "web.sso_hedaer: unknown key",
        ),
        (
            '[web]\nidentity = "sso"\ntrusted_proxies = ["127.0.0.1"]\nsession_key_env = "a key"\n',
            "web.session_key_env",
        ),
        (
            '[web]\nidentity = "tokens"\n[web.users.po]\ntoken = "hunter2"\n',
            "web.users.po.token: unknown key",
        ),
        (
            '[web]\nidentity = "tokens"\n[web.users.po]\ntoken_sha256 = "hunter2"\n',
            "web.users.po.token_sha256",
        ),
        (
            f'[web]\nidentity = "tokens"\n[web.users.po]\ntoken_sha256 = "{SHA}"\n'
            'token_env = "PO"\n',
            "exactly one of `token_sha256` or `token_env`",
        ),
        (
            '[web]\nidentity = "sso"\ntrusted_proxies = ["127.0.0.1"]\n'
            '[web.users.po]\ntoken_env = "PO"\n',
            '[web.users] are for identity = "tokens"',
        ),
    ],
)
def test_mistakes_are_one_error(preset_text: str, tmp_path: Path, web: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(_with_web(preset_text, web), tmp_path / "oob.toml")
    assert expected in caught.value.message


def test_a_jenkins_hook_is_off_unless_named_and_a_named_token_must_be_set(
    preset_text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oob.doctor import _jenkins_hook
    from oob.errors import ConfigError
    from oob.store import Store
    from oob.web.hooks import hooks_for

    sso = '[web]\nidentity = "sso"\ntrusted_proxies = ["127.0.0.1"]\n'
    store = Store(f"sqlite:///{tmp_path / 'oob.sqlite'}")
    web = parse(_with_web(preset_text, sso), tmp_path / "oob.toml").web
    assert web is not None
    assert hooks_for(web, store, store.url) is None
    named = sso + 'jenkins_hook_token_env = "OOB_HOOK_TOKEN"\n'
    web = parse(_with_web(preset_text, named), tmp_path / "oob.toml").web
    assert web is not None
    monkeypatch.delenv("OOB_HOOK_TOKEN", raising=False)
    with pytest.raises(
        ConfigError, match=r"OOB_HOOK_TOKEN \(\[web\] jenkins_hook_token_env\) is not set"
    ):
        hooks_for(web, store, store.url)
    config = parse(_with_web(preset_text, named), tmp_path / "oob.toml")
    [unset] = _jenkins_hook(config)  # oob doctor says it too
    assert (unset.ok, unset.detail) == (
        False,
        "OOB_HOOK_TOKEN ([web] jenkins_hook_token_env) is not set",
    )
    monkeypatch.setenv("OOB_HOOK_TOKEN", "short-token")
    with pytest.raises(ConfigError, match="shorter than 16 characters"):
        hooks_for(web, store, store.url)
    [short] = _jenkins_hook(config)
    assert "short-token" not in f"{short.detail} {short.fix}"  # the value is never shown
    monkeypatch.setenv("OOB_HOOK_TOKEN", "x" * 24)
    assert [c.ok for c in _jenkins_hook(config)] == [True]
    made = hooks_for(web, store, store.url)
    assert made is not None
    assert made.accepts("x" * 24)
    assert not made.accepts("y" * 24)
    store.close()
