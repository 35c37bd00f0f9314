"""`JenkinsBuildServer.scan_log`: the release check's look through a log, in bounded memory."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from oob.adapters import jenkins as module
from oob.adapters import streams
from oob.adapters.jenkins import JenkinsBuildServer
from tests.adapters.conftest import POLICY, Script

JOB = "/job/deploys/job/cms-auto-deploy/"
ROUTE = f"GET {JOB}12/logText/progressiveText"
PATTERN = r"Commit status: (?P<state>\w+) : (?P<sha>[0-9a-f]{7,40})"


@pytest.fixture
def jenkins(script: Script) -> Iterator[JenkinsBuildServer]:
    server = JenkinsBuildServer(
        "https://jenkins.example",
        "oob",
        "s3cret-token",
        token_env="OOB_JENKINS_TOKEN",
        timeout_seconds=5,
        policy=POLICY,
        transport=script.transport,
        sleep=lambda _: None,
    )
    yield server
    server.close()


def progressive(body: bytes, size: int | None, more: bool) -> httpx.Response:
    headers = {"Content-Type": "text/plain;charset=UTF-8"}
    if size is not None:
        headers["X-Text-Size"] = str(size)
    if more:
        headers["X-More-Data"] = "true"
    return httpx.Response(200, content=body, headers=headers)


def test_scan_returns_only_the_matching_line_and_the_text_size(
    jenkins: JenkinsBuildServer, script: Script
) -> None:
    body = b"Started by user oob\nSleeping 15 min\nCommit status: success : abc1234\nmore\n"
    script.on(ROUTE, progressive(body, 900, more=True))
    found = jenkins.scan_log("deploys/cms-auto-deploy", 12, PATTERN, start=40)
    assert found.line == "Commit status: success : abc1234"
    assert (found.next_start, found.more) == (900, True)
    assert script.calls(ROUTE)[0].url.params["start"] == "40"


def test_scan_without_a_match_starts_the_next_look_at_the_text_size(
    jenkins: JenkinsBuildServer, script: Script
) -> None:
    script.on(ROUTE, progressive(b"Sleeping 15 min\n", 120, more=True))
    found = jenkins.scan_log("deploys/cms-auto-deploy", 12, PATTERN)
    assert (found.line, found.next_start, found.more) == (None, 120, True)


def test_scan_counts_the_bytes_when_the_size_is_missing(
    jenkins: JenkinsBuildServer, script: Script
) -> None:
    script.on(ROUTE, progressive(b"Finished: FAILURE\n", None, more=False))
    found = jenkins.scan_log("deploys/cms-auto-deploy", 12, PATTERN, start=10)
    assert (found.line, found.next_start, found.more) == (None, 28, False)


def test_scan_finds_a_line_that_spans_the_stream_s_chunks(
    jenkins: JenkinsBuildServer, script: Script, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = b"Commit status: failure : " + b"f" * 40 + b"\n"
    body = b"x" * 100 + b"\n" + line + b"tail\n"
    pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
    matches = list(module._matching_lines(iter(pieces), module.re.compile(PATTERN, 8)))
    assert [m for m in matches if m] == [line.decode().rstrip("\n")]


def test_scan_is_line_by_line_for_anchors_and_patterns_across_lines() -> None:
    regex = module.re.compile(r"^b\s+c$", module.re.MULTILINE)
    # Searched over a block, `\s` would cross the newline; line by line nothing matches.
    assert [m for m in module._matching_lines(iter([b"a\nb\nc\n"]), regex) if m] == []
    anchored = module.re.compile(r"^done$", module.re.MULTILINE)
    found = module._matching_lines(iter([b"not done\ndone\n"]), anchored)
    assert [m for m in found if m] == ["done"]


def test_blocks_stay_bounded_for_a_line_without_end(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "MAX_LINE_BYTES", 16)
    chunks = [b"y" * 10] * 10 + [b"\nshort\n"]
    blocks = list(streams.blocks(iter(chunks)))
    assert b"".join(blocks) == b"".join(chunks)
    assert max(len(b) for b in blocks) <= 16 + 10
    lines = list(streams.lines(iter(chunks)))
    assert max(len(line) for line in lines) <= 16
    assert b"".join(lines) == b"y" * 100 + b"short"


def test_lines_keep_a_lone_carriage_return_inside_a_line() -> None:
    assert list(streams.lines(iter([b"50%\r100%\nok\n"]))) == [b"50%\r100%", b"ok"]


@pytest.mark.parametrize(
    "pattern",
    [
        r"Commit status: (?P<state>\w+) : (?P<sha>[0-9a-f]{7,40})",
        r"(?i)COMMIT STATUS: \w+",
        r"r\u00e9ussi",  # names a character beyond ASCII: searched as text only
        r"status: \S+ :",
    ],
)
@pytest.mark.parametrize(
    "log",
    [
        b"start\nCommit status: success : abc1234\nend\n",
        b"start\nCommit status: r\xc3\xa9ussi : abc1234\nend\n",  # a word beyond ASCII
        b"nothing here\n" * 3,
    ],
)
def test_a_log_searched_as_bytes_answers_as_a_line_by_line_text_search(
    pattern: str, log: bytes
) -> None:
    """The ASCII fast path (the block searched as bytes) finds exactly what the text search
    finds, a word beyond ASCII and a pattern naming one included."""
    regex = module.re.compile(pattern, module.re.MULTILINE)
    lines = log.decode().splitlines()
    expected = next((line for line in lines if regex.search(line)), None)
    found = [m for m in module._matching_lines(iter([log]), regex) if m]
    assert found == ([expected] if expected else [])
