"""`oob doctor` on a pipeline that releases with GitHub Actions: each workflow its stages name
is there, active and its runs readable; a wrong workflow file is one clear failed check."""

from __future__ import annotations

import json
from pathlib import Path

from oob.sandbox.configfile import render_config
from tests.adapters.conftest import TOKEN, Start
from tests.conftest import RunCli


def actions_checks(run_cli: RunCli, path: Path) -> tuple[int, list[dict[str, object]]]:
    result = run_cli("--config", str(path), "doctor", "--json")
    found = json.loads(result.out)["checks"]
    return result.code, [c for c in found if c["service"] == "GitHub Actions"]


def test_doctor_checks_the_workflows_of_a_gha_pipeline(
    run_cli: RunCli, start: Start, tmp_path: Path
) -> None:
    server, _ = start()
    path = tmp_path / "gha.toml"
    path.write_text(render_config(server.url, TOKEN, preset="gha"))
    code, found = actions_checks(run_cli, path)
    assert code == 0
    assert [c["check"] for c in found] == [
        f"department-of-veterans-affairs/va.gov-cms: release.yml#{job}"
        for job in ("release", "build", "deploy")
    ]
    assert all(c["ok"] for c in found)
    assert "input oob_run" in str(found[0]["detail"])

    path.write_text(path.read_text().replace('"release.yml#deploy"', '"nope.yml#deploy"'))
    code, found = actions_checks(run_cli, path)
    assert code == 1
    [bad] = [c for c in found if not c["ok"]]
    assert "nope.yml" in str(bad["detail"])
