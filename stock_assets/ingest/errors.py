"""Errors raised for bad input: each message names what is wrong and where."""


class SourceError(RuntimeError):
    """A price or news source could not deliver valid data (bad file, API failure, bad config)."""


class AdjustmentChangedError(SourceError):
    """Freshly fetched adjusted prices disagree with stored history (split or dividend)."""
