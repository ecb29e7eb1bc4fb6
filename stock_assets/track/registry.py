"""The version registry: which model version was served on which sessions.

A version serves from the first session after the data it could have seen: the later of its
training watermark and the last session in the lake when it was deployed. So a backfill of
`served_forecasts` forecasts a past day only with the version served that day, never with a later
model, and no version ever forecasts a day whose close it trained on. A version serves until the
session before the next one's first; a demotion (recorded with its reason) is a registered
version too: the random walk with a calibrated band. Each registered model file is archived
under STOCK_HOME/track/models, since the Triton repository keeps only the last few versions.

One JSON file, replaced atomically (temp file + rename locally, one PUT on an object store): the
deploy job is its only writer.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import date, datetime, timezone

from stock_assets import market_calendar
from stock_assets.model.storage import local_or_none, storage_path, write_bytes_once
from stock_assets.owners import temp_name

REGISTRY = "versions.json"


@dataclass(frozen=True)
class ServedVersion:
    version: int
    watermark: str  # the last session of the data it was trained on
    data_until: str  # the last session in the lake when it was deployed
    served_from: str  # its first forecast session
    network: str  # news, price-only or random walk
    reason: str  # deployed, or why the served version was demoted
    registered_at: str


def track_root(home):
    return storage_path(home) / "track"


def archived_model(home, version: int):
    return track_root(home) / "models" / f"{version}.onnx"


def next_session(day: str) -> str:
    return market_calendar.sessions_after(date.fromisoformat(day), 1)[0].strftime("%Y-%m-%d")


def load(home) -> list[ServedVersion]:
    """Registered versions in the order they started serving."""
    path = track_root(home) / REGISTRY
    if not path.exists():
        return []
    try:
        entries = json.loads(path.read_text())["versions"]
        return [ServedVersion(**entry) for entry in entries]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a version registry ({exc}); restore it from its last good copy") from None


def save(home, entries: list[ServedVersion]) -> None:
    text = json.dumps({"versions": [asdict(e) for e in entries]}, indent=1)
    root = local_or_none(track_root(home))
    if root is None:
        write_bytes_once(track_root(home) / REGISTRY, text.encode())
        return
    root.mkdir(parents=True, exist_ok=True)
    temp = root / temp_name(REGISTRY)
    try:
        temp.write_text(text)
        os.replace(temp, root / REGISTRY)
    finally:
        temp.unlink(missing_ok=True)


def register(home, version: int, model_file, watermark: str, data_until: str, network: str,
             reason: str = "deployed") -> ServedVersion:
    """Record that `version` is served from now on (idempotent: a re-deploy changes nothing)."""
    entries = load(home)
    for entry in entries:
        if entry.version == version:
            return entry
    served_from = next_session(max(watermark, data_until))
    if entries and served_from <= entries[-1].served_from:
        # Two deployments on the same data day: the later one serves from that session on.
        entries = [e for e in entries if e.served_from < served_from]
    archive(storage_path(model_file), archived_model(home, version))
    entry = ServedVersion(version=version, watermark=watermark, data_until=data_until, served_from=served_from,
                          network=network, reason=reason, registered_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    save(home, [*entries, entry])
    return entry


def archive(model_file, target) -> None:
    """Copy a published model file to the archive (atomically: temp + rename, or one PUT)."""
    data = model_file.read_bytes()
    local = local_or_none(target)
    if local is None:
        write_bytes_once(target, data)
        return
    local.parent.mkdir(parents=True, exist_ok=True)
    temp = local.with_name(temp_name(local.name))
    try:
        temp.write_bytes(data)
        os.replace(temp, local)
    finally:
        temp.unlink(missing_ok=True)


def served_on(entries: list[ServedVersion], day: str) -> ServedVersion | None:
    """The version that served forecasts starting from `day` (None before the first one)."""
    current = None
    for entry in entries:
        if entry.served_from <= day:
            current = entry
    return current


def served_until(entries: list[ServedVersion], version: int) -> str | None:
    """The last session `version` served (None while it is still served)."""
    for entry, following in zip(entries, entries[1:]):
        if entry.version == version:
            return market_calendar.sessions(date.fromisoformat(entry.served_from),
                                            date.fromisoformat(following.served_from))[-1].strftime("%Y-%m-%d")
    return None
