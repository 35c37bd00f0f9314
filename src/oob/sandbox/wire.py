"""Small helpers every service module shares: credentials, absolute URLs, bodies, `tree=`."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request


def basic_auth(request: Request) -> tuple[str, str] | None:
    """The (user, password) of an HTTP Basic `Authorization` header, if there is one."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def bearer(request: Request, *schemes: str) -> str | None:
    """The token of an `Authorization: <scheme> <token>` header, for any of `schemes`."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() in {s.lower() for s in schemes} and value.strip():
        return value.strip()
    return None


def origin(request: Request) -> str:
    """`scheme://host:port` as the client addressed us, so absolute URLs we hand out work;
    with the prefix the sandbox is served under (a fleet's pipeline, `/p001`), where it is."""
    prefix = request.scope.get("app_root_path", "")
    return f"{request.url.scheme}://{request.url.netloc}{prefix}"


async def body_params(request: Request) -> dict[str, Any]:
    """A request body as a dict: JSON objects as they are, form bodies as strings."""
    raw = await request.body()
    if "json" in request.headers.get("content-type", ""):
        return _object(raw)
    return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))


async def json_body(request: Request) -> dict[str, Any]:
    """A JSON object sent whatever the content type says; {} for anything else."""
    return _object(await request.body())


def _object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# -- Jenkins's `tree=` query: `jobs[name,url],builds[number,result]{0,5}` ------------------------

Tree = dict[str, tuple["Tree | None", tuple[int | None, int | None] | None]]


def parse_tree(text: str) -> Tree:
    """Parse a `tree=` expression; raises ValueError when it is malformed."""
    tree, rest = _parse_list(text.replace(" ", ""))
    if rest:
        raise ValueError(f"unexpected {rest[:10]!r} in tree")
    return tree


def _parse_list(text: str) -> tuple[Tree, str]:
    tree: Tree = {}
    while True:
        name_end = next((i for i, c in enumerate(text) if c in "[]{},"), len(text))
        name, text = text[:name_end], text[name_end:]
        sub: Tree | None = None
        span: tuple[int | None, int | None] | None = None
        if text.startswith("["):
            sub, text = _parse_list(text[1:])
            if not text.startswith("]"):
                raise ValueError("unclosed [ in tree")
            text = text[1:]
        if text.startswith("{"):
            close = text.index("}")
            span, text = _parse_range(text[1:close]), text[close + 1 :]
        if name:
            tree[name] = (sub, span)
        if not text.startswith(","):
            return tree, text
        text = text[1:]


def _parse_range(text: str) -> tuple[int | None, int | None]:
    if "," not in text:
        index = int(text)
        return index, index + 1
    low, high = text.split(",", 1)
    return (int(low) if low else None, int(high) if high else None)


def apply_tree(tree: Tree, value: Any) -> Any:
    """Keep only the fields `tree` names (and `_class`, which Jenkins always emits)."""
    if isinstance(value, list):
        return [apply_tree(tree, v) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {"_class": value["_class"]} if "_class" in value else {}
    for key, (sub, span) in tree.items():
        if key not in value:
            continue
        field = value[key]
        if span is not None and isinstance(field, list):
            field = field[span[0] : span[1]]
        out[key] = _bare(field) if sub is None else apply_tree(sub, field)
    return out


def _bare(value: Any) -> Any:
    """A field named without sub-fields: objects shrink to their `_class`, as Jenkins does."""
    if isinstance(value, dict):
        return {"_class": value["_class"]} if "_class" in value else {}
    if isinstance(value, list):
        return [_bare(v) for v in value]
    return value
