"""Plan Runner: queue test plans on a test gateway with one click."""

__version__ = "0.1.0"
