"""The history benchmark fills only files it made itself, and reports its figures."""

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from samples import sample_outcome

from app.core.history import HistoryStore

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_history.py"


def bench(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), "--no-view", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_history_in_use_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    store = HistoryStore.open(path)
    store.record(sample_outcome(datetime.now(UTC)))
    store.close()
    before = path.read_bytes()

    result = bench("--rows", "50", "--file", path)

    assert result.returncode == 2, result.stdout + result.stderr
    assert "refused" in result.stderr
    assert path.read_bytes() == before


def test_a_file_that_is_not_a_history_is_refused_and_left_as_it_is(
    tmp_path: Path,
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("keep me\n", encoding="utf-8")

    result = bench("--rows", "50", "--file", path)

    assert result.returncode == 2, result.stdout + result.stderr
    assert path.read_text(encoding="utf-8") == "keep me\n"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_its_own_file_is_filled_then_reused_and_the_figures_written(
    tmp_path: Path,
) -> None:
    path, figures = tmp_path / "bench.sqlite3", tmp_path / "figures.json"

    first = bench("--rows", "300", "--file", path, "--json", figures)
    again = bench("--rows", "300", "--file", path)

    assert first.returncode in (0, 1), first.stdout + first.stderr  # 1: missed
    assert again.returncode in (0, 1), again.stdout + again.stderr
    assert "reusing" in again.stdout
    names = [figure["name"] for figure in json.loads(figures.read_text())["figures"]]
    assert "history at 300 rows: first page" in names
    assert "history at 300 rows: filter by plan" in names
