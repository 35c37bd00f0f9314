"""oob.toml with several pipelines: `[pipelines.NAME]` tables in place of `[pipeline]`.

Each table holds what `[pipeline]` holds (its name is the table's) and may override, for that
pipeline only, the top-level services, audiences, channels, roles, verify and postmortem: merged
key by key over them (a table recursively; a list or a value replaces). Each pipeline resolves to
the complete single-pipeline config a run of it follows (`Config.for_pipeline`), validated as
such when the file is read. A problem is told where it is in the file: under the pipeline's own
table when the key is set there, else in the top-level table it came from (once, not once per
pipeline).

`[services.jenkins] folder` is folded into the stages' job paths here too (`fold_folder`), so that
a run's plan holds the paths its run uses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError

from oob.config_types import JOB_PATH

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
OVERRIDABLE = ("services", "audiences", "channels", "roles", "verify", "postmortem")
SHARED = ("templates", "sandbox", "web", "telemetry", "workers")  # one for every pipeline
ROLES = ("test_gate", "release_trigger")  # the pipeline keys that name a stage (or its job)

T = TypeVar("T")


def resolve(data: dict[str, Any], validate: Callable[[dict[str, Any]], T]) -> dict[str, T]:
    """Every pipeline of a config with `[pipelines.NAME]` tables, each validated as its own
    single-pipeline config by `validate`; all problems raised at once as one ValidationError."""
    tables = data["pipelines"]
    errors: list[Any] = []
    if "pipeline" in data:
        errors.append(_error((), "give either [pipeline] or [pipelines.NAME] tables, not both"))
    if not isinstance(tables, dict) or not tables:
        errors.append(_error(("pipelines",), "needs at least one [pipelines.NAME] table"))
        tables = {}
    resolved: dict[str, T] = {}
    for name, table in tables.items():
        if not NAME.match(name):
            errors.append(_error(("pipelines", name), f"{name!r} is not a pipeline name: {RULE}"))
        elif not isinstance(table, dict):
            errors.append(_error(("pipelines", name), "must be a table"))
        elif "name" in table:
            errors.append(_error(("pipelines", name, "name"), NAMED_BY_TABLE))
        else:
            try:
                resolved[name] = validate(single(data, name, table))
            except ValidationError as exc:
                errors += [_placed(e, data, name, table) for e in exc.errors()]
    if errors:
        unique = {(tuple(e["loc"]), e["type"], str(e.get("ctx"))): e for e in errors}
        raise invalid(list(unique.values()))
    return resolved


def invalid(errors: list[Any]) -> ValidationError:
    """One ValidationError of a config holding `errors` (pydantic's, each as it was said, or
    made here)."""
    return ValidationError.from_exception_data("Config", [_again(e) for e in errors])


def _again(error: Any) -> Any:
    """A pydantic error as it can be raised again, saying what it said (an unknown or missing
    key as such: `oob.config_errors` tells those apart)."""
    if "msg" not in error:
        return error  # made here
    if error["type"] in ("missing", "extra_forbidden"):
        return {"type": error["type"], "loc": error["loc"], "input": error.get("input")}
    said = str(error["msg"]).removeprefix("Value error, ")
    return {"type": "value_error", "loc": error["loc"], "input": None, "ctx": {"error": said}}


def missing(data: dict[str, Any], keys: tuple[str, ...]) -> list[Any]:
    """The errors of the top-level `keys` that `data` lacks."""
    return [{"type": "missing", "loc": (key,), "input": data} for key in keys if key not in data]


RULE = "lowercase letters, digits, `_`, `.` and `-`, at most 63, from a letter or digit"
NAMED_BY_TABLE = "a pipeline is named by its table: [pipelines.NAME] takes no `name` key"


def single(data: dict[str, Any], name: str, table: dict[str, Any]) -> dict[str, Any]:
    """The data of pipeline `name`'s own config: the top-level tables with its table's
    overrides merged over them, and its `[pipeline]`."""
    config = {key: value for key, value in data.items() if key != "pipelines"}
    pipeline: dict[str, Any] = {"name": name}
    for key, value in table.items():
        if key in OVERRIDABLE:
            config[key] = merge(config.get(key), value)
        else:
            pipeline[key] = value  # an unknown key is told as one of the pipeline's
    config["pipeline"] = pipeline
    return config


def merge(base: Any, override: Any) -> Any:
    """`override` over `base`: tables merged key by key, recursively; anything else replaced."""
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return override
    merged = dict(base)
    for key, value in override.items():
        merged[key] = merge(base.get(key), value)
    return merged


def fold_folder(data: dict[str, Any]) -> dict[str, Any]:
    """A single-pipeline config's data with `[services.jenkins] folder` prefixed to every
    stage's job path (and to a test_gate or release_trigger given as a job path), and dropped.

    Left as it is when something it needs is not what it should be: validation tells that."""
    services = _table(data, "services")
    jenkins, pipeline = _table(services, "jenkins"), _table(data, "pipeline")
    folder, stages = jenkins.get("folder"), pipeline.get("stages")
    if not (isinstance(folder, str) and re.match(JOB_PATH, folder) and isinstance(stages, list)):
        return data
    named = [s for s in stages if isinstance(s, dict) and s.get("kind") == "jenkins"]
    jobs = {str(s.get("job")).lower() for s in named} - {str(s.get("name")).lower() for s in named}
    folded = {**pipeline, "stages": [_in_folder(folder, stage) for stage in stages]}
    for role in ROLES:  # a stage named by its job path alone: by its new path
        value = pipeline.get(role)
        if isinstance(value, str) and value.strip().lower() in jobs:
            folded[role] = f"{folder}/{value.strip()}"
    unfoldered = {key: value for key, value in jenkins.items() if key != "folder"}
    return {**data, "services": {**services, "jenkins": unfoldered}, "pipeline": folded}


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _in_folder(folder: str, stage: Any) -> Any:
    if (
        isinstance(stage, dict)
        and stage.get("kind") == "jenkins"
        and isinstance(stage.get("job"), str)
    ):
        return {**stage, "job": f"{folder}/{stage['job']}"}
    return stage


def _placed(error: Any, data: dict[str, Any], name: str, table: dict[str, Any]) -> Any:
    """`error` of pipeline `name`'s config, placed where it is in the file."""
    loc = tuple(error["loc"])
    head = loc[0] if loc else None
    own = ("pipelines", name)
    if head == "pipeline":
        where = (*own, *loc[1:])
    elif head in OVERRIDABLE and _holds(table, loc):
        where = (*own, *loc)
    elif _holds(data, loc):
        where = loc
    elif error["type"] == "missing" or error["type"] == "extra_forbidden":
        # missing in both: say so under the table that holds the others of its level
        mine = head in OVERRIDABLE and len(loc) > 1 and _holds(table, loc[:-1])
        where = (*own, *loc) if mine else loc
    else:
        where = (*own, *loc)
    return {**error, "loc": where}


def _holds(container: Any, loc: tuple[Any, ...]) -> bool:
    """Whether the parsed TOML `container` holds a value at `loc`."""
    for part in loc:
        inside = part in container if isinstance(container, dict) else False
        if isinstance(container, list) and isinstance(part, int):
            inside = part < len(container)
        if not inside:
            return False
        container = container[part]
    return True


def _error(loc: tuple[Any, ...], message: str) -> Any:
    return {"type": "value_error", "loc": loc, "input": None, "ctx": {"error": message}}
