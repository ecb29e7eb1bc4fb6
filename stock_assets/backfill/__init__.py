"""Backfills from the shell (`make backfill`): launched through the Dagster webserver's GraphQL
API as the UI launches them, and followed to the end."""
