"""`cordon.guard(client)`: tool calls in Anthropic and OpenAI responses are
checked before the application sees them; tool results sent back in later
requests are recorded, so provenance works across turns."""

from __future__ import annotations

import functools
import json
from typing import Any, Iterable, Iterator, Mapping

from ._guard import Blocked, Guard, PolicyArg

# A tool call found in a response: (name, input, id, the SDK's object for it).
Call = tuple[str, Mapping[str, Any], Any, Any]


def _get(obj: Any, key: str, default: Any = None) -> Any:
    """Requests mix plain dicts with SDK models (a response's content appended as is)."""
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _arguments(text: str | None) -> Mapping[str, Any]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        # Still checked: an unknown shape is searched as text, never skipped.
        return {"arguments": text}
    return value if isinstance(value, dict) else {"arguments": value}


def _text(content: Any) -> Any:
    """A message's or result's content: its text when it is text blocks, else as it is."""
    if isinstance(content, str) or content is None:
        return content
    parts = [_get(p, "text") for p in content]
    if all(isinstance(p, str) for p in parts):
        return "\n".join(parts)
    return [p if isinstance(p, Mapping) else p.model_dump() for p in content]


def _first_user_text(messages: Iterable[Any]) -> str | None:
    for m in messages:
        if _get(m, "role") == "user":
            text = _text(_get(m, "content"))
            return text if isinstance(text, str) else None
    return None


class _Anthropic:
    """Messages API: `tool_use` blocks out, `tool_result` blocks back in user messages."""

    @staticmethod
    def task(kwargs: Mapping[str, Any]) -> str | None:
        return _first_user_text(kwargs.get("messages") or ())

    @staticmethod
    def results(kwargs: Mapping[str, Any]) -> Iterator[tuple[Any, Any]]:
        for m in kwargs.get("messages") or ():
            content = _get(m, "content")
            if _get(m, "role") != "user" or isinstance(content, str):
                continue
            for block in content or ():
                if _get(block, "type") == "tool_result":
                    yield _get(block, "tool_use_id"), _text(_get(block, "content"))

    @staticmethod
    def names(kwargs: Mapping[str, Any]) -> Iterator[tuple[Any, str]]:
        for m in kwargs.get("messages") or ():
            content = _get(m, "content")
            if _get(m, "role") == "assistant" and not isinstance(content, str):
                for block in content or ():
                    if _get(block, "type") == "tool_use":
                        yield _get(block, "id"), _get(block, "name")

    @staticmethod
    def calls(response: Any) -> Iterator[Call]:
        for block in response.content:
            if block.type == "tool_use":
                yield block.name, block.input, block.id, block

    class Stream:
        """A tool_use block is complete at its `content_block_stop`."""

        def __init__(self) -> None:
            self.open: dict[int, tuple[Any, list[str]]] = {}

        def feed(self, event: Any) -> list[Call]:
            if event.type == "content_block_start" and event.content_block.type == "tool_use":
                self.open[event.index] = (event.content_block, [])
            elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                if event.index in self.open:
                    self.open[event.index][1].append(event.delta.partial_json)
            elif event.type == "content_block_stop" and event.index in self.open:
                block, parts = self.open.pop(event.index)
                tool_input = _arguments("".join(parts)) if parts else block.input
                return [(block.name, tool_input, block.id, block)]
            return []

        def finish(self) -> list[Call]:
            return []  # a block cut off before its stop never reaches the application whole


class _OpenAIChat:
    """Chat Completions: `tool_calls` out, `role: "tool"` messages back in."""

    @staticmethod
    def task(kwargs: Mapping[str, Any]) -> str | None:
        return _first_user_text(kwargs.get("messages") or ())

    @staticmethod
    def results(kwargs: Mapping[str, Any]) -> Iterator[tuple[Any, Any]]:
        for m in kwargs.get("messages") or ():
            if _get(m, "role") == "tool":
                yield _get(m, "tool_call_id"), _text(_get(m, "content"))

    @staticmethod
    def names(kwargs: Mapping[str, Any]) -> Iterator[tuple[Any, str]]:
        for m in kwargs.get("messages") or ():
            for tc in _get(m, "tool_calls") or ():
                yield _get(tc, "id"), _get(_get(tc, "function"), "name")

    @staticmethod
    def calls(response: Any) -> Iterator[Call]:
        for choice in response.choices:
            for tc in choice.message.tool_calls or ():
                if tc.type == "function":
                    yield tc.function.name, _arguments(tc.function.arguments), tc.id, tc

    class Stream:
        """Arguments arrive in fragments; a choice's calls are complete at its `finish_reason`."""

        def __init__(self) -> None:
            self.open: dict[int, dict[int, dict[str, Any]]] = {}

        def feed(self, chunk: Any) -> list[Call]:
            done: list[Call] = []
            for choice in chunk.choices:
                calls = self.open.setdefault(choice.index, {})
                for tc in (choice.delta.tool_calls if choice.delta else None) or ():
                    call = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                    call["id"] = tc.id or call["id"]
                    if tc.function:
                        call["name"] += tc.function.name or ""
                        call["arguments"] += tc.function.arguments or ""
                if choice.finish_reason:
                    done += self._complete(self.open.pop(choice.index))
            return done

        def finish(self) -> list[Call]:
            calls = [c for choice in self.open.values() for c in self._complete(choice)]
            self.open.clear()
            return calls

        @staticmethod
        def _complete(calls: dict[int, dict[str, Any]]) -> list[Call]:
            return [(c["name"], _arguments(c["arguments"]), c["id"], c) for _, c in sorted(calls.items())]


class _OpenAIResponses:
    """Responses API: `function_call` output items out, `function_call_output` input items back."""

    @staticmethod
    def _items(kwargs: Mapping[str, Any]) -> Iterable[Any]:
        items = kwargs.get("input")
        return () if items is None or isinstance(items, str) else items

    @staticmethod
    def task(kwargs: Mapping[str, Any]) -> str | None:
        items = kwargs.get("input")
        return items if isinstance(items, str) else _first_user_text(items or ())

    @classmethod
    def results(cls, kwargs: Mapping[str, Any]) -> Iterator[tuple[Any, Any]]:
        for item in cls._items(kwargs):
            if _get(item, "type") == "function_call_output":
                yield _get(item, "call_id"), _get(item, "output")

    @classmethod
    def names(cls, kwargs: Mapping[str, Any]) -> Iterator[tuple[Any, str]]:
        for item in cls._items(kwargs):
            if _get(item, "type") == "function_call":
                yield _get(item, "call_id"), _get(item, "name")

    @staticmethod
    def calls(response: Any) -> Iterator[Call]:
        for item in response.output:
            if item.type == "function_call":
                yield item.name, _arguments(item.arguments), item.call_id, item

    class Stream:
        """A function call is complete at its `response.output_item.done` event."""

        def feed(self, event: Any) -> list[Call]:
            if event.type == "response.output_item.done" and event.item.type == "function_call":
                item = event.item
                return [(item.name, _arguments(item.arguments), item.call_id, item)]
            return []

        def finish(self) -> list[Call]:
            return []


class _Episode:
    """What one guarded client keeps between requests."""

    def __init__(self, guard: Guard, api: Any):
        self.guard = guard
        self.api = api
        self.names: dict[Any, str] = {}  # tool call id -> tool name, for results that come back
        self.recorded: set[Any] = set()  # results already recorded: each request resends the history

    def before(self, kwargs: Mapping[str, Any]) -> str | None:
        """Record the results a request carries back; return the user's task."""
        task = self.api.task(kwargs)
        self.names.update(self.api.names(kwargs))
        for call_id, output in self.api.results(kwargs):
            if call_id not in self.recorded:
                self.recorded.add(call_id)
                self.guard.record_result(self.names.get(call_id, "unknown"), output, id=call_id, task=task)
        return task

    def check(self, calls: Iterable[Call], task: str | None) -> None:
        for name, tool_input, call_id, raw in calls:
            self.names[call_id] = name
            self.guard.check_call(name, tool_input, id=call_id, task=task, tool_call=raw)


class _Guarded:
    """Passes a stream's events through as they arrive; raises `Blocked` in
    place of the event that completes a blocked tool call, and closes the stream."""

    def __init__(self, stream: Any, episode: _Episode, task: str | None):
        self._stream = stream
        self._episode = episode
        self._task = task
        self._state = episode.api.Stream()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def _check(self, event: Any) -> None:
        self._episode.check(self._state.feed(event), self._task)

    def _finish(self) -> None:
        self._episode.check(self._state.finish(), self._task)


class _Stream(_Guarded):
    def __iter__(self) -> _Stream:
        return self

    def __next__(self) -> Any:
        try:
            event = next(self._stream)
        except StopIteration:
            self._finish()
            raise
        try:
            self._check(event)
        except Blocked:
            self._stream.close()
            raise
        return event

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stream.close()


class _AsyncStream(_Guarded):
    def __aiter__(self) -> _AsyncStream:
        return self

    async def __anext__(self) -> Any:
        try:
            event = await self._stream.__anext__()
        except StopAsyncIteration:
            self._finish()
            raise
        try:
            self._check(event)
        except Blocked:
            await self._stream.close()
            raise
        return event

    async def __aenter__(self) -> _AsyncStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._stream.close()


def _wrap(resource: Any, episode: _Episode, is_async: bool) -> None:
    create = resource.create

    if is_async:

        @functools.wraps(create)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            task = episode.before(kwargs)
            response = await create(*args, **kwargs)
            if kwargs.get("stream"):
                return _AsyncStream(response, episode, task)
            episode.check(episode.api.calls(response), task)
            return response

    else:

        @functools.wraps(create)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            task = episode.before(kwargs)
            response = create(*args, **kwargs)
            if kwargs.get("stream"):
                return _Stream(response, episode, task)
            episode.check(episode.api.calls(response), task)
            return response

    resource.create = guarded


def guard(
    client: Any,
    mode: str | None = None,
    block_on: Iterable[str] | None = None,
    *,
    policy: PolicyArg = None,
    session: str | None = None,
    agent: str | None = None,
    task: str | None = None,
) -> Any:
    """Guard an `anthropic.Anthropic`/`AsyncAnthropic` or `openai.OpenAI`/`AsyncOpenAI`
    client in place and return it: `messages.create` (Anthropic), `chat.completions.create`
    and `responses.create` (OpenAI) raise `cordon.Blocked` for a blocked tool call,
    streamed or not. `mode` and `block_on` default to the policy's (block on critical
    and high). One episode per guarded client, named by `session` (a uuid by default)."""
    g = Guard(policy, mode=mode, block_on=block_on, session=session, agent=agent, task=task)
    module = type(client).__module__.split(".")[0]
    # AsyncAnthropic, AsyncOpenAI, AsyncAzureOpenAI: the SDKs name their async clients so.
    is_async = type(client).__name__.startswith("Async")
    if module == "anthropic":
        _wrap(client.messages, _Episode(g, _Anthropic), is_async)
    elif module == "openai":
        _wrap(client.chat.completions, _Episode(g, _OpenAIChat), is_async)
        _wrap(client.responses, _Episode(g, _OpenAIResponses), is_async)
    else:
        raise TypeError(f"cordon.guard: unsupported client {type(client).__qualname__} (anthropic or openai clients)")
    return client
