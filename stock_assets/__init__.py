"""The Dagster code location of the stock-prediction platform.

Settings come from the environment and, for what the environment does not set, from the project
settings file (`.env` in the working directory, or STOCK_ENV_FILE): the file `dagster dev` loads
too, and the one `make demo` writes, so `make dev` and `make serve` see what the demo used.
"""

from stock_assets.settings_file import load_project_settings

load_project_settings()
