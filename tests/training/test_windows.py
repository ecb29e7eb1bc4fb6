"""The training panel: news alignment without look-ahead, date splits, a hand-checked window."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from stock_assets import market_calendar
from stock_assets.ingest.prices import ReplayPriceSource
from stock_assets.model.panel import SPLITS, WindowDataset, history_by_symbol, load_panel, no_windows_message, save_panel
from stock_assets.training.windows import align_to_sessions, build_panel, session_close_times

DIM = 4


def news_day(rows):
    """rows: (symbol, New York local time, vector)."""
    frame = pd.DataFrame(
        {
            "symbol": [r[0] for r in rows],
            "published_at": [pd.Timestamp(r[1], tz="America/New_York").tz_convert("UTC") for r in rows],
        }
    )
    frame.attrs["vectors"] = np.array([r[2] for r in rows], dtype=np.float32)
    return frame


@pytest.fixture(scope="module")
def prices(replay_dir):
    from datetime import date

    return ReplayPriceSource(replay_dir).fetch(["AAPL", "SPY"], date(2014, 1, 1), date(2015, 1, 1))


def test_friday_evening_and_saturday_news_belong_to_monday():
    sessions = pd.DatetimeIndex(["2014-03-06", "2014-03-07", "2014-03-10"])  # Thu, Fri, Mon
    closes = session_close_times(sessions)
    stamps = pd.Series(
        [pd.Timestamp(t, tz="America/New_York") for t in (
            "2014-03-07 15:59", "2014-03-07 16:00", "2014-03-07 19:30", "2014-03-08 11:00", "2014-03-10 09:00", "2014-03-10 16:01",
        )]
    )
    assert list(align_to_sessions(stamps, closes)) == [1, 2, 2, 2, 2, 3]  # 3 = not yet a session


def test_mean_of_latest_k_and_market_news(prices):
    day = news_day([
        ("AAPL", "2014-03-07 10:00", [1, 0, 0, 0]),
        ("AAPL", "2014-03-07 11:00", [0, 1, 0, 0]),
        ("AAPL", "2014-03-07 12:00", [0, 0, 1, 0]),
        ("MARKET", "2014-03-07 13:00", [0, 0, 0, 1]),
    ])
    panel = build_panel(prices, [day], news_per_session=3, market_news=True)
    t = int(np.flatnonzero(panel.sessions == np.datetime64("2014-03-07"))[0])
    aapl, spy = panel.symbols.index("AAPL"), panel.symbols.index("SPY")
    assert panel.news_count[t, aapl] == 4 and panel.news_count[t, spy] == 1
    np.testing.assert_allclose(panel.news_vectors[panel.news_slot[t, aapl]], [0, 1 / 3, 1 / 3, 1 / 3], atol=1e-3)
    np.testing.assert_allclose(panel.news_vectors[panel.news_slot[t, spy]], [0, 0, 0, 1], atol=1e-3)
    assert panel.news_slot[t - 1, aapl] == -1 and panel.news_slot[t + 1, aapl] == -1
    without_market = build_panel(prices, [day], news_per_session=3, market_news=False)
    assert without_market.news_slot[t, spy] == -1


def test_no_window_crosses_a_split_and_splits_are_ordered(prices):
    panel = build_panel(prices, [], news_dim=DIM, validation_start="2014-09-02", test_start="2014-11-03")
    ends = panel.sessions[panel.windows["end"]]
    splits = panel.windows["split"]
    last_target = panel.sessions[panel.windows["end"] + 5]
    for code, (lo, hi) in {0: (None, "2014-09-02"), 1: ("2014-09-02", "2014-11-03"), 2: ("2014-11-03", None)}.items():
        chosen = splits == code
        assert chosen.any()
        if lo:
            assert (ends[chosen] >= np.datetime64(lo)).all()
        if hi:
            assert (last_target[chosen] < np.datetime64(hi)).all()  # targets stay inside the split
    assert ends[splits == 0].max() < ends[splits == 1].min() < ends[splits == 2].min()


def test_hand_computed_window_from_replay(prices, replay_dir, tmp_path):
    vector = [0.5, -1.0, 2.0, 0.0]
    day = news_day([("AAPL", "2014-03-01 09:00", vector)])  # a Saturday -> Monday 2014-03-03
    save_panel(tmp_path, build_panel(prices, [day], validation_start="2014-09-02", test_start="2014-11-03"))
    panel = load_panel(tmp_path)
    dataset = WindowDataset(panel, "train")
    aapl = panel.symbols.index("AAPL")
    end = int(np.flatnonzero(panel.sessions == np.datetime64("2014-03-14"))[0])
    i = int(np.flatnonzero((dataset.symbol == aapl) & (dataset.end == end))[0])
    price, news, target = dataset[i]
    csv = pd.read_csv(replay_dir / "prices" / "AAPL.csv", parse_dates=["Date"]).set_index("Date")["Adj Close"]
    position = csv.index.get_loc(pd.Timestamp("2014-03-14"))
    np.testing.assert_allclose(price[:, 0].numpy(), csv.iloc[position - 29 : position + 1].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(target.numpy(), csv.iloc[position + 1 : position + 6].to_numpy(), rtol=1e-6)
    monday = 29 - 9  # 2014-03-03 is 9 sessions before 2014-03-14
    np.testing.assert_allclose(news[monday].numpy(), vector, atol=1e-3)
    assert float(news.abs().sum()) == pytest.approx(float(np.abs(vector).sum()), rel=1e-3)
    assert panel.watermark == "2014-12-31" and panel.meta["headlines_after_last_session"] == 0
    assert int((panel.windows["split"] == SPLITS["test"]).sum()) > 0


def test_one_bad_symbol_cannot_empty_the_panel():
    """One symbol with rows on non-session days and another with a 3-day gap: every other symbol
    keeps every window, the gappy one loses only the windows that cross its gap."""
    days = market_calendar.sessions(date(2014, 1, 1), date(2014, 7, 1))
    rows = []
    for symbol in ("AAA", "BBB", "GAP", "ODD"):
        for i, day in enumerate(days):
            rows.append({"date": day, "symbol": symbol, "adj_close": 100.0 + i})
    saturdays = pd.date_range("2014-02-01", periods=6, freq="7D")
    rows += [{"date": d, "symbol": "ODD", "adj_close": 1.0} for d in saturdays]
    gap = set(days[60:63])
    prices = pd.DataFrame([r for r in rows if not (r["symbol"] == "GAP" and r["date"] in gap)])
    panel = build_panel(prices, [], news_dim=4, validation_start="2014-06-01", test_start="2014-06-20")
    assert list(panel.sessions) == list(days.to_numpy().astype("datetime64[D]"))  # the calendar's, no Saturday
    assert panel.meta["rows_off_calendar"] == {"ODD": [d.strftime("%Y-%m-%d") for d in saturdays]}
    counts = history_by_symbol(panel)
    full = counts["AAA"]["windows"]
    assert full > 0 and counts["BBB"]["windows"] == full and counts["ODD"]["windows"] == full
    # windows need 35 consecutive closes: those that touch the 3 missing sessions are gone, no others
    assert counts["GAP"]["windows"] == full - 37
    assert counts["GAP"]["sessions"] == len(days) - 3 and counts["GAP"]["longest_run"] == len(days) - 63


def test_no_windows_says_which_symbols_had_how_much_history():
    days = market_calendar.sessions(date(2014, 1, 1), date(2014, 2, 1))
    prices = pd.DataFrame([{"date": d, "symbol": s, "adj_close": 10.0} for s in ("AAA", "BBB") for d in days[: 12 if s == "AAA" else 5]])
    panel = build_panel(prices, [], news_dim=4)
    message = no_windows_message(panel)
    assert "a window needs 35 consecutive NYSE sessions" in message
    assert "AAA 12 sessions (longest run 12)" in message and "BBB 5 sessions (longest run 5)" in message


def test_tone_is_the_mean_of_a_symbols_own_headlines_and_reaches_the_sentiment_dataset(prices, tmp_path):
    day = news_day([
        ("AAPL", "2014-03-07 10:00", [1, 0, 0, 0]),
        ("AAPL", "2014-03-07 11:00", [0, 1, 0, 0]),
        ("MARKET", "2014-03-07 12:00", [0, 0, 1, 0]),  # market tone would be the same for every symbol: not counted
        ("SPY", "2014-03-08 12:00", [0, 0, 0, 1]),  # Saturday -> Monday
    ])
    day["sentiment_positive"] = [0.6, 0.1, 0.9, 0.2]
    day["sentiment_negative"] = [0.2, 0.5, 0.0, 0.2]
    save_panel(tmp_path, build_panel(prices, [day], validation_start="2014-09-02", test_start="2014-11-03"))
    panel = load_panel(tmp_path)
    friday = int(np.flatnonzero(panel.sessions == np.datetime64("2014-03-07"))[0])
    aapl, spy = panel.symbols.index("AAPL"), panel.symbols.index("SPY")
    assert panel.news_tone[friday, aapl] == pytest.approx(((0.6 - 0.2) + (0.1 - 0.5)) / 2)
    assert np.isnan(panel.news_tone[friday, spy]) and panel.news_tone[friday + 1, spy] == pytest.approx(0.0)
    assert np.isfinite(panel.news_tone).sum() == 2
    dataset = WindowDataset(panel, "train", sentiment=True)
    i = int(np.flatnonzero((dataset.symbol == spy) & (dataset.end == friday + 1))[0])
    _, news, _ = dataset[i]
    assert news.shape == (30, DIM + 2)
    np.testing.assert_allclose(news[-1].numpy(), [0, 0, 0, 1, 0.0, 1.0], atol=1e-3)  # vector, tone 0, has texts
    assert float(news[:-1, DIM:].abs().sum()) == 0.0  # no other day had SPY texts
    # a panel built from news without sentiment columns cannot feed the sentiment variant
    plain = build_panel(prices, [news_day([("AAPL", "2014-03-07 10:00", [1, 0, 0, 0])])])
    assert np.isnan(plain.news_tone).all()
    plain.news_tone = None  # as loaded from a panel written before the tone existed
    with pytest.raises(ValueError, match="no news_tone"):
        WindowDataset(plain, "train", sentiment=True)
