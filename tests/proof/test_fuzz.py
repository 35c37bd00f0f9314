"""Properties of what people and services hand oob, tried on generated inputs (Hypothesis).

The example counts are small so that CI stays fast and deterministic (`derandomize`); the larger
runs behind `bench/fuzz.py` set `OOB_FUZZ_EXAMPLES` and their figures are in docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from oob.config import parse
from oob.errors import ConfigError, UsageError
from oob.limits import MAX_MINUTES, check_text
from oob.messages import MESSAGES, Messages, mention_markup
from oob.postmortem import markdown
from oob.preflight import validate_sha

EXAMPLES = int(os.environ.get("OOB_FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text as people type it (and paste it): any character but lone surrogates, weighted towards
# the characters that mean something to Slack, Markdown and TOML.
MARKUP = ["<", ">", "|", "!", "@", "#", "`", "~", "\n", "\r", "-", "*", "_", "[", "]", " "]
TEXT = st.text(
    alphabet=st.one_of(st.characters(exclude_categories=("Cs",)), st.sampled_from(MARKUP)),
    max_size=40,
)
HOSTILE = st.one_of(
    TEXT,
    st.sampled_from(
        [
            "<!channel>",
            "<!here|here>",
            "<@U0123ABCD>",
            "<http://evil.example|click>",
            "<#C123|general>",
            "# Heading",
            "```\ncode",
            "| a | b |",
            "- item",
            "1. item",
        ]
    ),
    st.builds(lambda a, b: a + b, TEXT, TEXT),
)


# --- the config loader -----------------------------------------------------------------------


@FUZZ
@given(text=TEXT)
def test_any_text_is_a_config_or_a_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        parse(text, Path("oob.toml"))


def _toml_value(value: Any) -> str:
    """`value` as a TOML literal (basic strings are JSON strings without surrogates)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int | str):
        return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"


SCALARS = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.text(alphabet=st.characters(exclude_categories=("Cs", "Cc")), max_size=20),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["a", "name", "job", "token"]), inner, max_size=2),
    ),
    max_leaves=5,
)
_ASSIGNMENT = re.compile(r"^(\s*)([A-Za-z_][A-Za-z0-9_-]*)(\s*=\s*)(.*)$")


@FUZZ
@given(data=st.data())
def test_a_wrong_value_is_a_config_error_naming_its_key(preset_text: str, data: Any) -> None:
    lines = preset_text.splitlines()
    assignments = [i for i, line in enumerate(lines) if _ASSIGNMENT.match(line)]
    # The value may be a multi-line array in the preset: replace only one-line values.
    singles = [i for i in assignments if _one_line(lines[i])]
    index = data.draw(st.sampled_from(singles))
    match = _ASSIGNMENT.match(lines[index])
    assert match is not None
    key = match[2]
    value = data.draw(VALUES)
    lines[index] = f"{match[1]}{key}{match[3]}{_toml_value(value)}"
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)  # the mutation is valid TOML: any error is the config's own
    try:
        parse(text, Path("oob.toml"))
    except ConfigError as error:
        assert key in error.message, (key, value, error.message)  # noqa: PT017


def _one_line(line: str) -> bool:
    value = line.split("=", 1)[1].strip()
    try:
        tomllib.loads(f"x = {value}")
    except tomllib.TOMLDecodeError:
        return False
    return True


# --- the CLI's inputs ------------------------------------------------------------------------


@FUZZ
@given(text=TEXT)
def test_a_sha_is_valid_or_a_usage_error(text: str) -> None:
    try:
        sha = validate_sha(text)
    except UsageError as error:
        assert "not a commit SHA" in error.message  # noqa: PT017
        return
    assert re.fullmatch(r"[0-9a-f]{7,40}", sha)


@FUZZ
@given(text=TEXT, required=st.booleans())
def test_a_text_is_checked_or_a_usage_error_naming_its_option(text: str, required: bool) -> None:
    try:
        checked = check_text("--symptoms", text, required=required)
    except UsageError as error:
        assert "--symptoms" in error.message  # noqa: PT017
        return
    assert checked == checked.strip()
    assert "\r" not in checked
    assert not (required and not checked)


@FUZZ
@given(run_id=TEXT)
def test_oob_status_of_any_run_id_is_never_a_traceback(
    run_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, preset_file: Path
) -> None:
    from oob.cli import main

    assume("\x00" not in run_id)  # no terminal passes a NUL in an argument
    monkeypatch.setenv("OOB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OOB_DATABASE_URL", raising=False)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(["--config", str(preset_file), "status", run_id])
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    assert code != 0  # there is no run
    assert "Traceback" not in err.getvalue()
    assert err.getvalue().strip(), "a refusal says why"


# Minutes as people type them: any text, numbers written every way Python and pydantic read
# them, and the values at and beyond the edges.
MINUTES = st.one_of(
    TEXT,
    st.floats().map(str),
    st.floats().map(repr),
    st.integers().map(str),
    st.decimals(allow_nan=True).map(str),
    st.floats(min_value=-1, max_value=MAX_MINUTES + 1).map(lambda x: f"{x:.12g}"),
    st.sampled_from(
        [
            "nan",
            "-nan",
            "NaN",
            "inf",
            "-inf",
            "Infinity",
            "1e309",
            "-0",
            "+0",
            "0",
            "1440",
            "1440.0",
            "1440.0000001",
            "1441",
            "-0.0000001",
            "1_000",
            " 5 ",
            "5\n",
            "0x10",
            "0b1",
            "1e3",
            "1E3",
            ".5",
            "5.",
            "\u0661\u0662",  # Arabic-Indic digits
            "\uff11\uff12",  # full-width digits
            "",
            " ",
            "--help",
            "-1",
            "true",
        ]
    ),
)


@FUZZ
@given(option=st.sampled_from(["--release-wait", "--approval-timeout"]), value=MINUTES)
def test_oob_deploy_s_minutes_are_finite_and_bounded_or_refused_in_one_line(
    option: str,
    value: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    preset_file: Path,
) -> None:
    """`oob deploy --release-wait/--approval-timeout ANY`: the minutes reach the command as a
    finite number within 0..MAX_MINUTES, or are refused (exit 2) in one line naming the option,
    never a traceback. The deploy goes no further than its first check after the options (an
    empty `--cause`): no network, no store, no run."""
    from oob.cli import main
    from oob.cli.reach import DeployAsk, Local

    assume("\x00" not in value)  # no terminal passes a NUL in an argument
    home = tmp_path / "home"
    monkeypatch.setenv("OOB_HOME", str(home))
    monkeypatch.setenv("OOB_USER", "cms-oncall")  # a deployer of the preset
    monkeypatch.delenv("OOB_DATABASE_URL", raising=False)
    reached: list[dict[str, Any]] = []
    start = Local.start

    def watched(runs: Local, ask: DeployAsk) -> tuple[str, list[str]]:
        # What the command asks the runs for: record the minutes it was given.
        reached.append({"release_wait": ask.release_wait, "approval_timeout": ask.approval_timeout})
        return start(runs, ask)

    monkeypatch.setattr(Local, "start", watched)
    args = ["--config", str(preset_file), "deploy", "--fix", "abc1234", "--symptoms", "s",
            "--cause", "   ", "--fix-summary", "f", f"{option}={value}"]  # fmt: skip
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    said = err.getvalue()
    assert "Traceback" not in said
    assert code == 2, (value, said)
    assert not home.exists() or not list(home.iterdir())  # no store, no worker, no run
    event("accepted" if reached else "refused")
    if reached:  # accepted: the blank --cause was what refused the deploy
        assert said.startswith("error: --cause must not be empty"), said
        minutes = reached[0][option.removeprefix("--").replace("-", "_")]
        assert isinstance(minutes, float), (value, minutes)
        assert math.isfinite(minutes), (value, minutes)
        assert 0 <= minutes <= MAX_MINUTES, (value, minutes)
        assert minutes == float(value), (value, minutes)  # the number typed, not another
    else:
        errors = [line for line in said.splitlines() if line.lower().startswith("error")]
        assert len(errors) == 1, said
        assert option in errors[0], said


# --- Slack and Markdown escaping -------------------------------------------------------------

USER_FIELDS = (
    "requester",
    "symptoms",
    "affects",
    "cause",
    "fix_summary",
    "actor",
    "reason",
    "author",
    "title",
    "detail",
    "branch",
    "outcome_text",
)


@pytest.fixture(scope="module")
def messages() -> Messages:
    from importlib import resources

    text = (resources.files("oob") / "presets" / "va-cms.toml").read_text(encoding="utf-8")
    # With a user group's id, the mention is real Slack markup: the one `<` allowed.
    text = text.replace('# mention_id = "S0123ABCD"', 'mention_id = "S0123ABCD"')
    return Messages(parse(text, Path("oob.toml")))


@FUZZ
@given(data=st.data())
def test_no_user_text_becomes_slack_markup(messages: Messages, data: Any) -> None:
    values: dict[str, Any] = {
        "run_id": "20260304-100000-abcd",
        "pipeline": "va-cms",
        "fix_short": "abc1234",
        "eta": "1 h",
        "sha_short": "def5678",
        "released_short": "def5678",
        "released_state": "success",
        "outcome": "cancelled",
        "deployed": False,
        "run_url": "https://oob.example.org/runs/20260304-100000-abcd",
        "job": "deploys/cms-auto-deploy",
        "number": 7,
        "release_wait": "15 min",
    }
    for name in USER_FIELDS:
        values[name] = data.draw(HOSTILE, label=name)
    for message, audiences in MESSAGES.items():
        for audience in audiences:
            text = messages.render(message, audience, values)
            mention = mention_markup(messages.audience(audience))
            if mention:
                text = text.replace(mention, "")
            assert "<" not in text, (message, audience, text)
            assert ">" not in text, (message, audience, text)


def _unescaped(text: str, char: str) -> list[int]:
    """Positions of `char` in `text` not escaped by a backslash (an odd run of them)."""
    found = []
    for i, c in enumerate(text):
        if c == char:
            slashes = len(text[:i]) - len(text[:i].rstrip("\\"))
            if slashes % 2 == 0:
                found.append(i)
    return found


@FUZZ
@given(text=HOSTILE)
def test_no_user_text_opens_a_heading_a_fence_or_a_table_row(text: str) -> None:
    for escaped in (str(markdown.escape(text)), str(markdown.cell(text))):
        assert "\n" not in escaped
        assert "\r" not in escaped
        assert not re.match(r" {0,3}#{1,6}(\s|$)", escaped), escaped
        assert not _unescaped(escaped, "`"), escaped
        assert not _unescaped(escaped, "|"), escaped
        assert not re.match(r" {0,3}(~~~|[-+*]\s|\d{1,9}[.)]\s|>)", escaped), escaped
    span = str(markdown.code(text, table=True))
    assert "\n" not in span
    assert not _unescaped(span, "|"), span
    if span:
        fence = re.match(r"`+", span)
        assert fence is not None
        inner = span[len(fence[0]) : -len(fence[0])]
        assert fence[0] not in inner  # the span cannot be closed early


# --- the sandbox's Jenkins progressive log ---------------------------------------------------

LOG_LINE = st.one_of(
    st.text(
        alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\n"), max_size=30
    ),
    st.builds(lambda s: "[Pipeline] " + s, st.text(max_size=10).filter(lambda s: "\n" not in s)),
    st.builds(lambda s: "Started by " + s, st.text(max_size=10).filter(lambda s: "\n" not in s)),
)


@FUZZ
@given(
    lines=st.lists(st.tuples(st.integers(0, 50), LOG_LINE), max_size=25),
    polls=st.lists(st.integers(0, 60), max_size=12),
)
def test_reading_with_the_offsets_given_never_loses_or_repeats_a_line(
    lines: list[tuple[int, str]], polls: list[int]
) -> None:
    from starlette.datastructures import QueryParams

    from oob.sandbox.jenkins import JenkinsApi
    from oob.sandbox.jobs import Build

    build = Build(
        job=None,  # type: ignore[arg-type]  # the log needs no job
        number=1,
        queue_id=1,
        parameters={},
        causes=[],
        sha="a" * 40,
        start=0,
        planned_end=60,
    )
    for at, line in sorted(lines, key=lambda pair: pair[0]):
        build.write(at, line)
    world = SimpleNamespace(now=0.0, pipeline=SimpleNamespace(jenkins_version="2.0"))
    api = JenkinsApi(world)  # type: ignore[arg-type]
    read, start = b"", "0"
    for now in [*sorted(polls), 61]:
        world.now = float(now)
        request = SimpleNamespace(query_params=QueryParams({"start": start}))
        response = api._progressive(request, world, build)  # type: ignore[arg-type]
        read += bytes(response.body)
        start = response.headers["X-Text-Size"]
    assert read == build.log(61)
    expected = [line for at, line in sorted(lines, key=lambda pair: pair[0])]
    assert read.decode().split("\n")[:-1] == expected
