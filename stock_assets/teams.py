"""Asset owners shown in the Dagster UI: who to ask about an asset (Dagster's `team:` form)."""

DATA_ENGINEERING = ["team:data-engineering"]  # ingestion and the news index
ML_ENGINEERING = ["team:ml-engineering"]  # training panel, model, export
