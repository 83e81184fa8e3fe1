from __future__ import annotations

import asyncio
from typing import Any, Callable, Iterator

import anthropic
import openai
import pytest

from fakeapi import FakeAPI

SDKS = ["anthropic", "openai-chat", "openai-responses"]


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


def make_client(api: FakeAPI, sdk: str, aio: bool) -> Any:
    if sdk == "anthropic":
        cls = anthropic.AsyncAnthropic if aio else anthropic.Anthropic
        return cls(base_url=api.url, api_key="test-key", max_retries=0)
    cls = openai.AsyncOpenAI if aio else openai.OpenAI
    return cls(base_url=api.url + "/v1", api_key="test-key", max_retries=0)


# One loop for every async test: an async client's connections belong to the loop that opened them.
LOOP = asyncio.new_event_loop()


class Conversation:
    """Drives one SDK the way an agent loop does: a request, the tool calls the
    application gets from the response (streamed or not), their results sent back."""

    def __init__(self, client: Any, sdk: str, aio: bool, stream: bool, task: str):
        self.client, self.sdk, self.aio, self.stream = client, sdk, aio, stream
        self.history: list[Any] = [{"role": "user", "content": task}]

    def turn(self) -> list[tuple[str, Any]]:
        """Send the history; return the (name, id) of each tool call received."""
        if self.sdk == "anthropic":
            create, kwargs = self.client.messages.create, {"model": "claude-test", "max_tokens": 100, "messages": self.history}
        elif self.sdk == "openai-chat":
            create, kwargs = self.client.chat.completions.create, {"model": "gpt-test", "messages": self.history}
        else:
            create, kwargs = self.client.responses.create, {"model": "gpt-test", "input": self.history}
        if self.stream:
            kwargs["stream"] = True
        if self.aio:
            return LOOP.run_until_complete(self._aturn(create, kwargs))
        response = create(**kwargs)
        if self.stream:
            with response as events:
                return self._from_events(list(events))
        return self._from_response(response)

    async def _aturn(self, create: Callable[..., Any], kwargs: dict[str, Any]) -> list[tuple[str, Any]]:
        response = await create(**kwargs)
        if self.stream:
            async with response as events:
                return self._from_events([e async for e in events])
        return self._from_response(response)

    def _from_response(self, r: Any) -> list[tuple[str, Any]]:
        if self.sdk == "anthropic":
            self.history.append({"role": "assistant", "content": r.content})
            return [(b.name, b.id) for b in r.content if b.type == "tool_use"]
        if self.sdk == "openai-chat":
            message = r.choices[0].message
            self.history.append(message)
            return [(tc.function.name, tc.id) for tc in message.tool_calls or ()]
        self.history.extend(r.output)
        return [(item.name, item.call_id) for item in r.output if item.type == "function_call"]

    def _from_events(self, events: list[Any]) -> list[tuple[str, Any]]:
        if self.sdk == "anthropic":
            blocks = [e.content_block for e in events if e.type == "content_block_start" and e.content_block.type == "tool_use"]
            self.history.append({"role": "assistant", "content": [{"type": "tool_use", "id": b.id, "name": b.name, "input": {}} for b in blocks]})
            return [(b.name, b.id) for b in blocks]
        if self.sdk == "openai-chat":
            calls = [tc for e in events for c in e.choices for tc in c.delta.tool_calls or () if tc.id]
            tool_calls = [{"id": tc.id, "type": "function", "function": {"name": tc.function.name, "arguments": "{}"}} for tc in calls]
            self.history.append({"role": "assistant", "content": None, "tool_calls": tool_calls})
            return [(tc.function.name, tc.id) for tc in calls]
        items = [e.item for e in events if e.type == "response.output_item.done" and e.item.type == "function_call"]
        self.history.extend(items)
        return [(item.name, item.call_id) for item in items]

    def send_result(self, call_id: Any, output: str) -> None:
        if self.sdk == "anthropic":
            self.history.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": output}]})
        elif self.sdk == "openai-chat":
            self.history.append({"role": "tool", "tool_call_id": call_id, "content": output})
        else:
            self.history.append({"type": "function_call_output", "call_id": call_id, "output": output})
