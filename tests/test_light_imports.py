"""The read side (`oob status`, `oob runs`) never imports DBOS: it only reads the store."""

from __future__ import annotations

import subprocess
import sys


def test_the_read_side_imports_no_dbos() -> None:
    code = (
        "import sys, oob.procedure, oob.readmodel, oob.live, oob.cli.run_cmds; "
        "print(sorted(m for m in sys.modules if m == 'dbos' or m.startswith('dbos.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
