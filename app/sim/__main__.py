"""Run the gateway simulator: ``python -m app.sim --help``."""

from app.sim.server import main

raise SystemExit(main())
