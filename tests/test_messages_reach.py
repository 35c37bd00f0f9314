"""Chat messages: people's text shows as typed (it pings nobody and disguises no link), user
groups are mentioned the way Slack notifies them, and one channel gets one message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from oob.config import Config, parse
from oob.errors import ConfigError
from oob.messages import MESSAGES, Messages
from tests.hostile import HOSTILE

NAMES = [
    "pipeline",
    "run_id",
    "requester",
    "symptoms",
    "affects",
    "cause",
    "fix_summary",
    "fix_short",
    "eta",
    "outcome",
    "outcome_text",
    "deployed",
    "detail",
    "branch",
    "sha_short",
    "author",
    "title",
    "released_short",
    "released_state",
    "actor",
    "reason",
    "job",
    "number",
    "release_wait",
    "run_url",
]
GROUP_ID = "S0CMSENG01"


def preset(preset_text: str, tmp_path: Path, *, mention_id: str | None) -> Config:
    text = preset_text
    if mention_id:
        text = text.replace(
            'mention = "@cms-engineers-group"',
            f'mention = "@cms-engineers-group"\nmention_id = "{mention_id}"',
        )
    return parse(text, tmp_path / "oob.toml")


@pytest.mark.parametrize("message", sorted(MESSAGES))
def test_people_s_text_pings_nobody_and_links_nowhere(
    preset_text: str, tmp_path: Path, message: str
) -> None:
    messages = Messages(preset(preset_text, tmp_path, mention_id=GROUP_ID))
    values = dict.fromkeys(NAMES, HOSTILE)
    audiences = ("engineers", "sitewide", "helpdesk", "editors", "product_owner", "operators")
    for audience in audiences:
        text = messages.render(message, audience, values)
        # The only Slack markup is the configured group's mention, built by oob.
        markup = re.findall(r"<[^>]*>", text)
        assert set(markup) <= {f"<!subteam^{GROUP_ID}|@cms-engineers-group>"}
        for ping in ("<!here>", "<!channel>", "<http", "<@"):
            assert ping not in text
    for delivery in messages.deliveries(message, audiences, values):
        assert set(re.findall(r"<[^>]*>", delivery.text)) <= {
            f"<!subteam^{GROUP_ID}|@cms-engineers-group>"
        }


def test_values_show_as_typed(preset_text: str, tmp_path: Path) -> None:
    messages = Messages(preset(preset_text, tmp_path, mention_id=None))
    text = messages.render(
        "deploy_coming", "editors", {"symptoms": "<!here> & <https://evil.example|x>", "eta": "1 h"}
    )
    assert "&lt;!here&gt; &amp; &lt;https://evil.example|x&gt;" in text
    from oob.messages import slack_escape

    assert slack_escape("a<b>&c") == "a&lt;b&gt;&amp;c"


def test_a_team_template_may_use_slack_markup_itself(preset_text: str, tmp_path: Path) -> None:
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "resolved.j2").write_text("<!here> fixed: {{ fix_summary }}")
    text = preset_text.replace(
        '# [templates]\n# directory = "oob-templates"', '[templates]\ndirectory = "tpl"'
    )
    messages = Messages(parse(text, tmp_path / "oob.toml"))
    assert messages.render("resolved", "helpdesk", {"fix_summary": "<!channel>"}) == (
        "<!here> fixed: &lt;!channel&gt;"
    )


def test_hold_merges_notifies_the_engineers_group(preset_text: str, tmp_path: Path) -> None:
    messages = Messages(preset(preset_text, tmp_path, mention_id=GROUP_ID))
    text = messages.render("hold_merges", "engineers", {})
    assert text.startswith(f":alert: <!subteam^{GROUP_ID}|@cms-engineers-group> We are preparing")


def test_a_group_id_needs_its_mention(preset_text: str, tmp_path: Path) -> None:
    text = preset_text.replace(
        "[audiences.sitewide]\n", f'[audiences.sitewide]\nmention_id = "{GROUP_ID}"\n'
    )
    with pytest.raises(ConfigError, match="mention_id"):
        parse(text, tmp_path / "oob.toml")


def test_audiences_sharing_a_channel_get_one_message(preset_text: str, tmp_path: Path) -> None:
    messages = Messages(preset(preset_text, tmp_path, mention_id=GROUP_ID))
    values = {"branch": "main", "sha_short": "abc1234", "author": "someone", "title": "Bump"}
    found = messages.deliveries("merge_detected", ("operators", "engineers"), values)
    # Both audiences are on #sitewide-program in the preset: one message, naming both.
    assert [(d.channel, d.audiences) for d in found] == [
        ("sitewide-program", ("operators", "engineers"))
    ]
    assert found[0].about == "operators+engineers"
    assert f"<!subteam^{GROUP_ID}|@cms-engineers-group>" in found[0].text
    # Different channels still get one message each; an audience not configured is skipped.
    spread = messages.deliveries(
        "deploy_coming", ("sitewide", "helpdesk", "editors"), {"symptoms": "x", "eta": "1 h"}
    )
    assert [d.channel for d in spread] == ["sitewide-program", "cms-helpdesk", "cms-editors"]
    bare = preset_text.replace('[audiences.operators]\nchannels = ["sitewide-program"]\n', "")
    lean = Messages(parse(bare, tmp_path / "oob.toml"))
    assert [d.audiences for d in lean.deliveries("merge_detected", ("operators",), values)] == []
