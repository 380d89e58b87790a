"""The command line stays light: it never loads Qt."""

import subprocess
import sys

import app.cli

CHECK = """
import sys
from app.cli import main
code = main(["run", "--plan", "nope", "--gateway", "https://gw.example.test", "--user", "1"])
assert code == 2, code
loaded = sorted(m for m in sys.modules if m.startswith(("PySide6", "shiboken6", "app.gui")))
print(",".join(loaded))
"""


def test_the_command_line_never_loads_qt(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", CHECK],
        capture_output=True,
        text=True,
        env={"PLAN_RUNNER_HOME": str(tmp_path), "PATH": ""},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
    assert len(app.cli.COMMAND_MODULES) >= 4
