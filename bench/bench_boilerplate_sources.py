"""Share of cited sources that are boilerplate, before and after retrieval drops it.

    .venv/bin/python bench/bench_boilerplate_sources.py [--from 2015-07-01 --to 2015-12-31]

Fixed before measuring: the questions are the chat's own ("What is the latest news about SYM?",
the symbol filter set as the API sets it, k = 5, as of the range's end) for the 50 symbols with
the most replay texts in the range (ties by name); "boilerplate" is stock_serving.retrieval's
rule (fewer than 3 content words once tickers, cashtags, URLs, dates, numbers, stop words and
feed words are removed). An independent second measure: the share of cited texts that are
templates, i.e. whose normalized text (no URLs, numbers, dates, punctuation) occurs on 10 or
more distinct days in the corpus. Both selections run on the same candidates in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import cpu_flags  # noqa: E402
from stock_assets.ingest.news import ReplayNewsSource  # noqa: E402
from stock_assets.news.embedder import TextEmbedder  # noqa: E402
from stock_assets.news.vector_store import NewsVectorStore, chroma_client  # noqa: E402
from stock_serving.retrieval import OVERFETCH, content_words, is_boilerplate, normalized, select_sources  # noqa: E402

REPLAY = Path(__file__).resolve().parents[2] / "shared" / "data" / "replay"
NEW_YORK = ZoneInfo("America/New_York")
QUESTIONS = 50
K = 5
TEMPLATE_DAYS = 10


def corpus(first: date, last: date) -> list[dict]:
    source = ReplayNewsSource(REPLAY)
    symbols = sorted(p.stem for p in (REPLAY / "news").glob("*.jsonl"))
    rows, seen = [], set()
    for symbol, item in source.fetch(symbols, first, last):
        day = datetime.fromtimestamp(item["datetime"], timezone.utc).astimezone(NEW_YORK).date()
        key = str(item["id"])
        if first <= day <= last and key not in seen:
            seen.add(key)
            rows.append({"id": key, "symbol": symbol, "date": day.isoformat(), "headline": item["headline"],
                         "source": item["source"], "url": item["url"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--from", dest="first", default="2015-07-01")
    parser.add_argument("--to", dest="last", default="2015-12-31")
    args = parser.parse_args()
    first, last = date.fromisoformat(args.first), date.fromisoformat(args.last)
    rows = corpus(first, last)
    counts = Counter(r["symbol"] for r in rows)
    symbols = [s for s, _ in sorted(counts.items(), key=lambda x: (-x[1], x[0]))][:QUESTIONS]
    days_of = defaultdict(set)
    for r in rows:
        days_of[normalized(r["headline"])].add(r["date"])
    templates = {text for text, days in days_of.items() if len(days) >= TEMPLATE_DAYS}

    embedder = TextEmbedder("minilm", threads=2)
    started = time.perf_counter()
    vectors = embedder.embed([r["headline"] for r in rows]).vectors
    embed_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        store = NewsVectorStore(chroma_client(path=tmp))
        metadatas = [{"date": r["date"], "day": int(r["date"].replace("-", "")), "symbol": r["symbol"],
                      "source": r["source"], "url": r["url"]} for r in rows]
        store.replace_days(sorted({r["date"] for r in rows}), [r["id"] for r in rows], vectors,
                           [r["headline"] for r in rows], metadatas)
        results = {"before": [], "after": []}
        for symbol in symbols:
            question = f"What is the latest news about {symbol}?"
            hits = store.query(embedder.embed([question]).vectors[0], k=K * OVERFETCH, where={"symbol": symbol})
            candidates = [{"headline": doc, "date": meta["date"], "symbol": meta["symbol"], "score": 1.0 - float(dist)}
                          for doc, meta, dist in zip(hits["documents"][0], hits["metadatas"][0], hits["distances"][0])]
            results["before"].append(select_sources(candidates, K, as_of=last, drop_boilerplate=False))
            results["after"].append(select_sources(candidates, K, as_of=last))

    print(f"CPU flags: {cpu_flags()}")
    print(f"replay texts {first}..{last}: {len(rows)} ({len(set(r['headline'] for r in rows))} distinct), "
          f"boilerplate by the rule: {sum(is_boilerplate(r['headline'], r['symbol']) for r in rows) / len(rows):.1%}, "
          f"templates: {len(templates)} texts; MiniLM embedding {len(rows) / embed_s:.0f} texts/s")
    print(f"{len(symbols)} questions: {', '.join(symbols)}")
    print("| selection | sources cited | boilerplate share (rule) | template share (independent) | content words per source | questions with < 5 sources | mean relevance |")
    print("|---|---|---|---|---|---|---|")
    for name, picked in results.items():
        cited = [s for answer in picked for s in answer]
        boiler = sum(is_boilerplate(s["headline"], s["symbol"]) for s in cited) / len(cited)
        template = sum(normalized(s["headline"]) in templates for s in cited) / len(cited)
        words = statistics.mean(len(content_words(s["headline"], s["symbol"])) for s in cited)
        short = sum(len(answer) < K for answer in picked)
        relevance = statistics.mean(s["score"] for s in cited)
        print(f"| {name} | {len(cited)} | {boiler:.1%} | {template:.1%} | {words:.1f} | {short} | {relevance:.3f} |")
    examples = [s["headline"] for answer in results["before"] for s in answer if is_boilerplate(s["headline"], s["symbol"])]
    print("boilerplate cited before, examples:", " || ".join(examples[:6]))


if __name__ == "__main__":
    main()
