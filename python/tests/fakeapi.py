"""A fake Anthropic Messages / OpenAI Chat Completions and Responses API on
loopback, enough for the real SDKs: each request gets the next scripted reply
(a list of tool calls, or plain text), as JSON or as an SSE stream."""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ToolCalls = list[tuple[str, dict[str, Any]]]


def _chunks(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def anthropic_reply(calls: ToolCalls, text: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    content += [{"type": "tool_use", "id": f"toolu_{i}", "name": n, "input": a} for i, (n, a) in enumerate(calls)]
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": content,
        "stop_reason": "tool_use" if calls else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 10},
    }


def anthropic_events(calls: ToolCalls, text: str) -> list[tuple[str, dict[str, Any]]]:
    message = anthropic_reply([], "") | {"content": [], "stop_reason": None}
    events = [("message_start", {"type": "message_start", "message": message})]
    events.append(("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}))
    for part in _chunks(text):
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": part}}))
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    for i, (name, args) in enumerate(calls, start=1):
        block = {"type": "tool_use", "id": f"toolu_{i - 1}", "name": name, "input": {}}
        events.append(("content_block_start", {"type": "content_block_start", "index": i, "content_block": block}))
        for part in _chunks(json.dumps(args)):
            delta = {"type": "input_json_delta", "partial_json": part}
            events.append(("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    stop = "tool_use" if calls else "end_turn"
    events.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 10}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def chat_reply(calls: ToolCalls, text: str) -> dict[str, Any]:
    tool_calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
        for i, (n, a) in enumerate(calls)
    ]
    message = {"role": "assistant", "content": None if calls else text, "tool_calls": tool_calls or None}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-test",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


def chat_events(calls: ToolCalls, text: str) -> list[tuple[str | None, dict[str, Any]]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> tuple[None, dict[str, Any]]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return None, {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "gpt-test", "choices": [choice]}

    events = [chunk({"role": "assistant", "content": "" if calls else text})]
    for i, (name, args) in enumerate(calls):
        first = {"index": i, "id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": ""}}
        events.append(chunk({"tool_calls": [first]}))
        for part in _chunks(json.dumps(args)):
            events.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": part}}]}))
    events.append(chunk({}, "tool_calls" if calls else "stop"))
    return events


def responses_reply(calls: ToolCalls, text: str) -> dict[str, Any]:
    output: list[dict[str, Any]] = [
        {"type": "function_call", "id": f"fc_{i}", "call_id": f"call_{i}", "name": n, "arguments": json.dumps(a), "status": "completed"}
        for i, (n, a) in enumerate(calls)
    ]
    if not calls:
        output = [{"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": [{"type": "output_text", "text": text, "annotations": []}]}]
    return {"id": "resp_1", "object": "response", "created_at": 0, "model": "gpt-test", "status": "completed", "output": output,
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": []}  # fmt: skip


def responses_events(calls: ToolCalls, text: str) -> list[tuple[str, dict[str, Any]]]:
    reply = responses_reply(calls, text)
    events = [("response.created", {"type": "response.created", "sequence_number": 0, "response": reply | {"output": [], "status": "in_progress"}})]
    for i, item in enumerate(reply["output"]):
        events.append(("response.output_item.done", {"type": "response.output_item.done", "sequence_number": i + 1, "output_index": i, "item": item}))
    events.append(("response.completed", {"type": "response.completed", "sequence_number": len(events), "response": reply}))
    return events


ROUTES = {
    "/v1/messages": (anthropic_reply, anthropic_events),
    "/v1/chat/completions": (chat_reply, chat_events),
    "/v1/responses": (responses_reply, responses_events),
}


class FakeAPI:
    """`reply(...)` scripts the next response; `requests` keeps every request body."""

    def __init__(self) -> None:
        self.replies: deque[tuple[ToolCalls, str]] = deque()
        self.requests: list[dict[str, Any]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)

    def __enter__(self) -> FakeAPI:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reply(self, calls: ToolCalls | None = None, text: str = "Done.") -> None:
        self.replies.append((calls or [], text))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' connection pools expect
            disable_nagle_algorithm = True  # headers and body are separate writes: no delayed-ACK stalls

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                api.requests.append(body)
                route = ROUTES.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                calls, text = api.replies.popleft() if api.replies else ([], "Done.")
                if body.get("stream"):
                    self.stream(route[1](calls, text), done=self.path == "/v1/chat/completions")
                else:
                    data = json.dumps(route[0](calls, text)).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def stream(self, events: list[tuple[str | None, dict[str, Any]]], done: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                try:
                    for name, data in events:
                        head = f"event: {name}\n" if name else ""
                        self.wfile.write(f"{head}data: {json.dumps(data)}\n\n".encode())
                    if done:
                        self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client closed a stream it blocked

        return Handler
