"""Message templates: the runbook's wording by default, overridable per message and audience."""

from __future__ import annotations

from pathlib import Path

import pytest

from oob.config import Config, parse
from oob.errors import ConfigError
from oob.messages import MESSAGES, MessageKey, Messages


def config_with(preset_text: str, tmp_path: Path, directory: str | None) -> Config:
    text = preset_text
    if directory is not None:
        text = text.replace(
            '# [templates]\n# directory = "oob-templates"',
            f'[templates]\ndirectory = "{directory}"',
        )
        assert f'directory = "{directory}"' in text
    return parse(text, tmp_path / "oob.toml")


def test_hold_and_resume_messages_are_the_runbook_s(preset_text: str, tmp_path: Path) -> None:
    messages = Messages(config_with(preset_text, tmp_path, None))
    assert messages.render("hold_merges", "engineers", {}) == (
        ":alert: @cms-engineers-group We are preparing for an Out-of-Band deployment.  "
        "Please hold off on merging anything until further notice, so as not to delay "
        "testing and rollout."
    )
    assert messages.render(
        "resume_merging", "engineers", {"outcome": "resolved", "outcome_text": "resolved"}
    ) == (
        "@cms-engineers-group The Out-of-Band deployment is complete.  "
        "You may resume merging as needed."
    )


def test_audience_without_mention_gets_no_stray_space(preset_text: str, tmp_path: Path) -> None:
    messages = Messages(config_with(preset_text, tmp_path, None))
    text = messages.render("deploy_complete", "helpdesk", {})
    assert text.startswith("The Out-of-Band deployment has completed successfully")


def test_overrides_per_message_and_per_audience(preset_text: str, tmp_path: Path) -> None:
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "deploy_coming.j2").write_text("All: {{ symptoms }}\n")
    (tmp_path / "tpl" / "deploy_coming.editors.j2").write_text("Editors: {{ symptoms }}\n")
    messages = Messages(config_with(preset_text, tmp_path, "tpl"))
    values = {"symptoms": "login broken", "eta": "1 h"}
    assert messages.render("deploy_coming", "helpdesk", values) == "All: login broken"
    assert messages.render("deploy_coming", "editors", values) == "Editors: login broken"
    # Messages not overridden keep the built-in wording.
    assert "hold off on merging" in messages.render("hold_merges", "engineers", {})


def test_template_using_an_unknown_name_is_a_config_error(preset_text: str, tmp_path: Path) -> None:
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "resolved.j2").write_text("{{ no_such_value }}")
    messages = Messages(config_with(preset_text, tmp_path, "tpl"))
    with pytest.raises(ConfigError):
        messages.render("resolved", "helpdesk", {})


def test_missing_template_directory_is_a_config_error(preset_text: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        Messages(config_with(preset_text, tmp_path, "nowhere"))


def test_every_message_has_a_built_in_template(preset_text: str, tmp_path: Path) -> None:
    messages = Messages(config_with(preset_text, tmp_path, None))
    values = {
        "run_id": "r1",
        "pipeline": "va-cms",
        "requester": "op",
        "symptoms": "s",
        "affects": "",
        "cause": "c",
        "fix_summary": "f",
        "fix_short": "abc1234",
        "eta": "1 h",
        "run_url": "",
        "job": "deploys/cms-auto-deploy",
        "number": 7,
        "release_wait": "15 min",
        "actor": "op",
        "reason": "r",
        "branch": "main",
        "sha_short": "def5678",
        "author": "a",
        "title": "t",
        "released_short": "def5678",
        "released_state": "success",
        "detail": "d",
        "outcome": "cancelled",
        "outcome_text": "cancelled",
        "deployed": False,
    }
    for name, audiences in MESSAGES.items():
        for audience in audiences:
            assert messages.render(name, audience, values)


@pytest.mark.parametrize(
    "key",
    [
        MessageKey("20261206-101500-beef", "deploy_coming", "sitewide"),
        MessageKey("20261206-101500-beef", "resume_merging", "engineers+operators"),
        # A merge's message is keyed by the commit, and a thing may hold a colon.
        MessageKey("20261206-101500-beef", "merge_detected", "engineers", "abc123:main"),
    ],
)
def test_a_message_key_reads_back_as_written(key: MessageKey) -> None:
    assert MessageKey.parse(str(key)) == key


@pytest.mark.parametrize(
    "text", ["", "oob", "oob:run:message", "slack:run:message:ops", "oob::m:a"]
)
def test_a_text_no_message_key_gives_is_none(text: str) -> None:
    assert MessageKey.parse(text) is None
