"""Byte streams read in bounded memory: a log split into lines as it arrives, whatever it holds.

Both build servers' adapters read logs through these: Jenkins' progressive text and the job
logs of GitHub Actions.
"""

from __future__ import annotations

from collections.abc import Iterator

# A line longer than this is handed out in pieces, so that following a log stays in constant
# memory even when a build writes megabytes without a newline.
MAX_LINE_BYTES = 1 << 20


def lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Split a byte stream into lines (without their newline), in bounded memory: a line longer
    than `MAX_LINE_BYTES` comes in pieces of that size."""
    for block in blocks(chunks):
        parts = block.split(b"\n")
        if not parts[-1]:
            parts.pop()
        for line in parts:
            if len(line) <= MAX_LINE_BYTES:
                yield line
            else:
                yield from (
                    line[i : i + MAX_LINE_BYTES] for i in range(0, len(line), MAX_LINE_BYTES)
                )


def counted(chunks: Iterator[bytes], total: list[int]) -> Iterator[bytes]:
    """`chunks`, adding their sizes to `total[0]` (for a server that sends no `X-Text-Size`)."""
    for chunk in chunks:
        total[0] += len(chunk)
        yield chunk


def blocks(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Regroup a byte stream into blocks that end where a line ends, each at most one chunk
    plus `MAX_LINE_BYTES` long; a line without end that outgrows `MAX_LINE_BYTES` is handed
    out in pieces of that size, so memory stays bounded whatever the stream holds."""
    pending = b""
    for chunk in chunks:
        block = pending + chunk if pending else chunk
        cut = block.rfind(b"\n") + 1
        if cut:
            yield block[:cut] if cut < len(block) else block
        pending = block[cut:]
        while len(pending) >= MAX_LINE_BYTES:
            yield pending[:MAX_LINE_BYTES]
            pending = pending[MAX_LINE_BYTES:]
    if pending:
        yield pending
