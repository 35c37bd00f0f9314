"""The probe port: the verification checks of `[verify]`, and deploy-shield detection.

A check's failure is a result, not an error: the procedure polls until its checks pass or its
time is up, so "HTTP 502" or "no answer" is what a check saw. Only a shield that cannot be seen
at all (no answer from the CMS, after retries) raises a ProbeError. A 503 is never retried here:
while the shield is up, the CMS answers 503 with `Retry-After: 120`, and that is the answer.
"""

from __future__ import annotations

import copy
import re
import subprocess
import time
from collections.abc import Sequence

import httpx

from oob.adapters import tls
from oob.adapters.retry import RetryPolicy, send
from oob.config import CommandCheck, HttpCheck
from oob.errors import ConfigError, ProbeError
from oob.ports import ProbeResult

# How much of a failing command's output is kept in the result.
_TAIL_CHARS = 300


def _final(response: httpx.Response) -> float | None:
    return None


class HttpProbe:
    """`oob.ports.Probe` for the configured checks and shield URL."""

    def __init__(
        self,
        checks: Sequence[HttpCheck | CommandCheck],
        shield_url: str,
        *,
        timeout_seconds: float = 10.0,
        policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`timeout_seconds` bounds the shield request; each check has its own timeout."""
        self._checks = {check.name: check for check in checks}
        self.shield_url = shield_url
        self._timeout = timeout_seconds
        self._policy = policy or RetryPolicy(attempts=3, total_seconds=30.0)
        self._client = httpx.Client(
            transport=transport,
            verify=tls.context(),
            follow_redirects=True,
            headers={"User-Agent": "oob-probe"},
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def for_checks(self, checks: Sequence[HttpCheck | CommandCheck], shield_url: str) -> HttpProbe:
        """The same client, for other `checks` and `shield_url`; close only this one."""
        bound = copy.copy(self)
        bound._checks = {check.name: check for check in checks}
        bound.shield_url = shield_url
        return bound

    def run(self, check_name: str) -> ProbeResult:
        """Run the configured check of that name once."""
        check = self._checks.get(check_name)
        if check is None:
            raise ConfigError(
                f"no check {check_name!r} in [[verify.checks]]",
                hint=f"use one of: {', '.join(sorted(self._checks)) or '(none configured)'}",
            )
        if isinstance(check, HttpCheck):
            return self._http(check)
        return _command(check)

    def shield_up(self) -> bool:
        """True while the shield URL answers 503 (the deploy shield); False for any other answer."""
        try:
            response = self._get(self.shield_url, self._timeout)
        except httpx.TransportError as exc:
            raise ProbeError(
                f"no answer from {self.shield_url}: {type(exc).__name__} {exc}".rstrip(),
                hint="the CMS may be down altogether; check verify.shield_url",
            ) from None
        return response.status_code == 503

    def _get(self, url: str, timeout: float) -> httpx.Response:
        # Only no answer is tried again: any status, 503 above all, is what the check saw.
        return send(self._client, "GET", url, policy=self._policy, classify=_final, timeout=timeout)

    def _http(self, check: HttpCheck) -> ProbeResult:
        started = time.perf_counter()
        try:
            response = self._get(check.url, check.timeout_seconds)
        except httpx.TransportError as exc:
            return ProbeResult(check.name, False, f"no answer: {type(exc).__name__} {exc}".rstrip())
        took = f"in {(time.perf_counter() - started) * 1000:.0f} ms"
        if response.status_code != check.expect_status:
            return ProbeResult(
                check.name,
                False,
                f"HTTP {response.status_code} {took}, expected {check.expect_status}",
            )
        if check.body_pattern and not re.search(check.body_pattern, response.text):
            return ProbeResult(
                check.name,
                False,
                f"HTTP {response.status_code} {took}, body lacks /{check.body_pattern}/",
            )
        return ProbeResult(check.name, True, f"HTTP {response.status_code} {took}")


def _command(check: CommandCheck) -> ProbeResult:
    try:
        done = subprocess.run(  # noqa: S603 (the command comes from the operator's own config)
            check.command,
            capture_output=True,
            text=True,
            timeout=check.timeout_seconds,
            check=False,
        )
    except FileNotFoundError:
        return ProbeResult(check.name, False, f"no such command: {check.command[0]}")
    except subprocess.TimeoutExpired:
        return ProbeResult(check.name, False, f"timed out after {check.timeout_seconds:g} s")
    if done.returncode == 0:
        return ProbeResult(check.name, True, "exit 0")
    tail = (done.stderr.strip() or done.stdout.strip())[-_TAIL_CHARS:]
    return ProbeResult(check.name, False, f"exit {done.returncode}: {tail}".rstrip(": "))
