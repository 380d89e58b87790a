"""The recent runs list: its icons follow the colour scheme."""

from datetime import UTC, datetime
from typing import Any

from PySide6.QtWidgets import QApplication
from samples import sample_outcome

from app.core.outcome import Category
from app.gui import icons, theme
from app.gui.recent_runs import RecentRuns


def icon_key(runs: RecentRuns, category: Category) -> int:
    tone = theme.category_tone(category, runs)
    return icons.icon(icons.outcome_icon_name(category), tone.accent).cacheKey()


def test_the_icons_of_runs_already_listed_follow_a_scheme_change(qtbot: Any) -> None:
    runs = RecentRuns()
    qtbot.addWidget(runs)
    runs.add(sample_outcome(datetime.now(UTC), category=Category.AUTH), None, None)
    light = runs.list.item(0).icon().cacheKey()
    assert light == icon_key(runs, Category.AUTH)

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    before = app.palette()
    app.setPalette(theme.dark_palette())
    try:
        qtbot.waitUntil(lambda: theme.is_dark(runs), timeout=2000)
        dark = runs.list.item(0).icon().cacheKey()
        assert dark == icon_key(runs, Category.AUTH)
        assert dark != light
    finally:
        app.setPalette(before)
