"""The gateway simulator: the queue contract, plus the ways real gateways misbehave."""

from app.sim.server import SCENARIOS, RecordedRequest, Simulator, main

__all__ = ["SCENARIOS", "RecordedRequest", "Simulator", "main"]
