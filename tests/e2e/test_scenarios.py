"""Every misbehaviour of the simulator, through the real runner on loopback."""

import time

import pytest

from app.core.exchange import ClientSettings
from app.core.outcome import Category
from app.core.redact import Redactor
from app.core.runner import Runner, RunRequest
from app.core.urls import parse_gateway_url
from app.sim import SCENARIOS, Simulator

EXPECTED = {
    "normal": Category.QUEUED,
    "slow": Category.UNKNOWN,  # slower than the read timeout below
    "hang": Category.UNKNOWN,
    "drop": Category.UNKNOWN,
    "drop_before": Category.UNKNOWN,
    "html502": Category.GATEWAY,
    "html503": Category.GATEWAY,
    "html504": Category.UNKNOWN,
    "empty401": Category.AUTH,
    "spring401": Category.AUTH,
    "oauth401": Category.AUTH,
    "forbidden": Category.AUTH,
    "error500": Category.GATEWAY,
    "ratelimit": Category.RATE_LIMITED,
    "redirect": Category.REDIRECTED,
    "redirect301": Category.REDIRECTED,
    "redirect307": Category.REDIRECTED,
    "redirect308": Category.REDIRECTED,
    "notfound": Category.INVALID,
    "toolarge": Category.INVALID,
    "code_nonzero": Category.REJECTED,
    "code_string": Category.QUEUED,
    "missing_result": Category.GATEWAY,
    "extra_fields": Category.QUEUED,
    "not_json": Category.GATEWAY,
    "truncated": Category.GATEWAY,
    "huge": Category.GATEWAY,
    "trickle": Category.UNKNOWN,
    "echo_token": Category.AUTH,
    "gzip_bomb": Category.GATEWAY,  # the first 256 KB of zeros: not an envelope
    "endless": Category.UNKNOWN,  # a 200 whose body never ends: cut off
}


def test_every_scenario_has_an_expected_outcome():
    assert set(EXPECTED) == set(SCENARIOS)


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_each_scenario_ends_in_its_category_after_exactly_one_post(scenario):
    with Simulator(scenario=scenario, slow_seconds=3) as sim:
        request = RunRequest(
            plan_id=681,
            user_id=1,
            gateway=parse_gateway_url(sim.url),
            token="demo-token",
            profile=None,
            client=ClientSettings(read_timeout=1, connect_timeout=2),
        )
        started = time.monotonic()
        outcome = Runner(Redactor()).run(request).outcome
        elapsed = time.monotonic() - started
        posts = len(sim.queue_posts)
    assert outcome.category is EXPECTED[scenario], outcome.title
    assert elapsed < 5, f"{scenario} held the run for {elapsed:.1f} s"
    # drop_before closes the connection before reading, so nothing is recorded.
    assert posts == (0 if scenario == "drop_before" else 1)
    assert "demo-token" not in str(outcome.to_dict())
