"""The tests start real servers with the same helpers as the demo."""

from stock_assets.processes import default_signals, free_port, running, wait_until  # noqa: F401
