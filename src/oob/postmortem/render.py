"""The draft as Markdown: `PostmortemFacts` fed to a Jinja2 template.

The built-in template is `templates/postmortem.md.j2`, replaceable by `[postmortem] template`
in the config. The filters here make values safe where the template puts them.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from oob.config import Config
from oob.errors import ConfigError
from oob.postmortem import markdown
from oob.postmortem.facts import PostmortemFacts
from oob.postmortem.lessons import minutes, outcome_text

if TYPE_CHECKING:
    import jinja2

TEMPLATE_NAME = "postmortem.md.j2"


def format_utc(value: datetime | None, *, seconds: bool = True) -> str:
    """`2023-06-23 14:05:07 UTC`: every time in the draft, with its date."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime(
        "%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC"
    )


def _mermaid_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _sentence(text: str) -> str:
    """`text` ending with a full stop, unless it already ends a sentence."""
    text = text.strip()
    return text if not text or text[-1] in ".!?" else f"{text}."


@functools.cache
def _environment(directory: Path | None) -> jinja2.Environment:
    """The templates of `directory` (None: the built-in ones), made once per process: each
    template is compiled once (40 to 60 ms for the built-in one), and again only when its file
    changes (Jinja2 looks)."""
    import jinja2

    loader: jinja2.BaseLoader = (
        jinja2.PackageLoader("oob", "templates")
        if directory is None
        else jinja2.FileSystemLoader(directory)
    )
    env = jinja2.Environment(
        loader=loader,
        # The output is Markdown, not HTML: HTML-escaping would print `&#39;` in the draft.
        autoescape=False,  # noqa: S701
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # Every printed value is people's text until a filter says otherwise (`markdown`).
        finalize=markdown.escape,
    )
    env.filters.update(
        utc=format_utc,
        minutes=minutes,
        cell=markdown.cell,
        code=markdown.code,
        url=markdown.url,
        sentence=_sentence,
        short=lambda sha: (sha or "")[:7],
        mermaid_time=_mermaid_time,
        mermaid_name=markdown.mermaid_name,
    )
    return env


def _template(config: Config) -> jinja2.Template:
    """The configured template (relative to the config file), else the built-in one."""
    import jinja2

    custom = config.postmortem.template
    try:
        if custom is None:
            return _environment(None).get_template(TEMPLATE_NAME)
        if not custom.is_absolute() and config.source is not None:
            custom = config.source.parent / custom
        return _environment(custom.parent).get_template(custom.name)
    except jinja2.TemplateNotFound:
        raise ConfigError(
            f"postmortem template {custom} not found",
            hint="fix [postmortem] template in the config, or remove it to use the built-in one",
        ) from None
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(
            f"postmortem template {exc.filename or custom}:{exc.lineno}: {exc.message}"
        ) from None


def compile_built_in() -> None:
    """Compile the built-in template now: a worker does it as it starts, once, rather than the
    first run it serves as its draft begins."""
    _environment(None).get_template(TEMPLATE_NAME)


def render(facts: PostmortemFacts, config: Config) -> str:
    """The draft as Markdown, from the configured (or built-in) template."""
    import jinja2

    template = _template(config)
    github = config.services.github
    try:
        return template.render(
            facts=facts,
            outcome_text=outcome_text(facts),
            repository=github.repository,
            repository_url=f"{github.web_url.rstrip('/')}/{github.repository}",
            due=due_date(facts.ended_at or facts.requested_at),
        )
    except jinja2.TemplateError as exc:
        raise ConfigError(
            f"the postmortem template failed: {exc}",
            hint="a custom template may only use the names the built-in one uses",
        ) from None


def due_date(ended: datetime) -> date:
    """Two business days after `ended` (UTC): when the postmortem pull request is due."""
    day = ended.astimezone(UTC).date()
    left = 2
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day
