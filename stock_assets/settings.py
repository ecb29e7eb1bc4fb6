"""Where state lives: the one place every process (assets, trainer, Triton sync, API, UI, demo,
Makefile) reads STOCK_HOME, the shared-state database and the rate-budget backend from.

Read with pydantic-settings: the environment first, then the project settings file (`.env`, or
STOCK_ENV_FILE; the file `make demo` writes), then the defaults below. No Dagster here: the
training pods and the serving image read it too.

    python -m stock_assets.settings            # the resolved settings, one per line
    python -m stock_assets.settings exports    # `export NAME=value` lines for a shell (the Makefile)

| setting | single machine | cluster, RWX volume | cluster, object store |
|---|---|---|---|
| STOCK_HOME | ./.stock_home | /mnt/storage | s3://bucket/prefix |
| STOCK_DATABASE_URL | unset (SQLite under STOCK_HOME) | the Dagster PostgreSQL | the Dagster PostgreSQL |
| STOCK_RATE_BUCKET | auto (= sqlite) | auto (= postgres) | auto (= postgres) or redis |
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from upath import UPath

from stock_assets.settings_file import settings_path

# The one definition of the default STOCK_HOME (and of the local folder used beside an
# object-store STOCK_HOME): relative to the working directory.
DEFAULT_STOCK_HOME = ".stock_home"
LOCAL_PROTOCOLS = ("", "file", "local")


class StockSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", env_file_encoding="utf-8")

    stock_home: str = Field(default=DEFAULT_STOCK_HOME, description="root of all storage: a path or an s3:// / gs:// URL")
    stock_local_home: str = Field(default="", description="local folder for what needs a file system (Chroma, HF "
                                                          "cache, Dagster) when STOCK_HOME is an object store")
    stock_database_url: str = Field(default="", description="postgresql:// URL of shared state; unset = SQLite "
                                                            "under STOCK_HOME (one machine only)")
    stock_rate_bucket: Literal["auto", "sqlite", "postgres", "redis"] = Field(
        default="auto", description="Finnhub call budget: auto = postgres when STOCK_DATABASE_URL is set, else sqlite")
    stock_redis_url: str = Field(default="", description="redis:// URL for STOCK_RATE_BUCKET=redis")
    stock_claim_lease_seconds: float = Field(default=600.0, gt=0, description="how long a dead worker's embedding "
                                                                              "claims block the others")
    aws_endpoint_url: str = Field(default="", description="S3-compatible endpoint (the standard AWS variable)")

    @property
    def home_is_local(self) -> bool:
        return "://" not in self.stock_home or self.stock_home.split("://", 1)[0] in LOCAL_PROTOCOLS

    @property
    def rate_bucket(self) -> str:
        if self.stock_rate_bucket != "auto":
            return self.stock_rate_bucket
        return "postgres" if self.stock_database_url else "sqlite"


def settings() -> StockSettings:
    """Read anew on each call: tests and the demo change the environment between calls."""
    path = settings_path()
    return StockSettings(_env_file=path if path.is_file() else None)


def storage_options(url: str) -> dict:
    """fsspec options for `url`: the S3 endpoint from AWS_ENDPOINT_URL (s3fs does not read it),
    and no listings cache (s3fs keeps one forever: a long-lived API would never see new versions)."""
    if not url.startswith(("s3://", "s3a://")):
        return {}
    endpoint = settings().aws_endpoint_url
    return {"use_listings_cache": False, **({"endpoint_url": endpoint} if endpoint else {})}


def as_upath(url: str | Path) -> UPath:
    """A path or URL as a UPath with this deployment's storage options; local paths made absolute."""
    text = str(url)
    if "://" in text:
        return UPath(text, **storage_options(text))
    return UPath(Path(text).expanduser().resolve())


def stock_home() -> UPath:
    """The root of all storage: STOCK_HOME, a path (made absolute) or an object-store URL."""
    return as_upath(settings().stock_home.strip() or DEFAULT_STOCK_HOME)


def local_home() -> Path:
    """Where the parts that need a local file system live (Chroma, SQLite state, the HF cache,
    the local Triton's copy of the repository, DAGSTER_HOME): STOCK_HOME itself when it is a
    path, else STOCK_LOCAL_HOME (default ./.stock_home)."""
    s = settings()
    if s.home_is_local:
        return Path(s.stock_home.split("://", 1)[-1] or DEFAULT_STOCK_HOME).expanduser().resolve()
    return Path(s.stock_local_home or DEFAULT_STOCK_HOME).expanduser().resolve()


def is_local(path: UPath) -> bool:
    return path.protocol in LOCAL_PROTOCOLS


def exports() -> dict[str, str]:
    """What a shell needs to run the platform's processes on these settings."""
    return {"STOCK_HOME": str(stock_home()), "STOCK_LOCAL_HOME": str(local_home()),
            "DAGSTER_HOME": str(local_home() / "dagster")}


def apply_exports() -> Path:
    """Put `exports()` into this process's environment (a DAGSTER_HOME already set is kept), for
    the children it starts; returns the local home."""
    import os

    for key, value in exports().items():
        if not (key == "DAGSTER_HOME" and os.environ.get(key)):
            os.environ[key] = value
    return local_home()


def main(argv: list[str]) -> None:
    if argv[:1] == ["exports"]:
        import os

        for key, value in exports().items():
            print(f"export {key}={shlex.quote(os.environ.get(key) or value)}")
        return
    s = settings()
    for name in type(s).model_fields:
        value = getattr(s, name)
        shown = "(set)" if name == "stock_database_url" and value and "@" in value else value  # may hold a password
        print(f"{name.upper()}={shown}")
    print(f"# STOCK_HOME resolves to {stock_home()}; local state in {local_home()}; rate bucket {s.rate_bucket}")


if __name__ == "__main__":
    main(sys.argv[1:])
