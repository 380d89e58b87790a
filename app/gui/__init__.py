"""The desktop face: PySide6 windows over the core."""
