"""`@cordon.tool`: guard a plain Python function's calls."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, TypeVar

from ._guard import Guard, PolicyArg

F = TypeVar("F", bound=Callable[..., Any])

# Decorated functions share one guard (one episode) per policy by default, so
# what one tool returned is followed into the calls of the others.
_guards: dict[str, Guard] = {}


def _shared_guard(policy: PolicyArg) -> Guard:
    key = str(policy)
    if key not in _guards:
        _guards[key] = Guard(policy)
    return _guards[key]


def tool(fn: F | None = None, *, name: str | None = None, policy: PolicyArg = None, guard: Guard | None = None) -> Any:
    """Check each call of the function (tool `name`, its function name by default;
    input: the bound arguments) and raise `cordon.Blocked` on a block; its return
    value is recorded as the call's result. `guard` shares an episode with other tools."""

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)
        tool_name = name or fn.__name__

        def arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return dict(bound.arguments)

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                g = guard or _shared_guard(policy)
                g.check_call(tool_name, arguments(args, kwargs))
                result = await fn(*args, **kwargs)
                g.record_result(tool_name, result)
                return result

            return guarded_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            g = guard or _shared_guard(policy)
            g.check_call(tool_name, arguments(args, kwargs))
            result = fn(*args, **kwargs)
            g.record_result(tool_name, result)
            return result

        return guarded  # type: ignore[return-value]

    return decorate if fn is None else decorate(fn)
