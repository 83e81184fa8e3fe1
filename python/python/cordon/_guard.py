"""Verdicts, the Guard (one engine plus one episode tracker) and `check`."""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ._native import Checker

log = logging.getLogger("cordon")

PolicyArg = str | os.PathLike[str] | None


@dataclass(frozen=True)
class Finding:
    kind: str
    severity: str
    confidence: float
    rule: str
    attack: list[str]
    evidence: str
    span: tuple[int, int]
    message: str
    related: list[Any] = field(default_factory=list)

    @classmethod
    def _from_json(cls, f: Mapping[str, Any]) -> Finding:
        return cls(
            kind=f["kind"],
            severity=f["severity"],
            confidence=f["confidence"],
            rule=f["rule"],
            attack=list(f["attack"]),
            evidence=f["evidence"],
            span=tuple(f["span"]),
            message=f["message"],
            related=list(f.get("related", ())),
        )


@dataclass(frozen=True)
class Verdict:
    decision: str  # "allow", "warn" or "block"
    severity: str | None  # the worst finding's, None when nothing was found
    findings: list[Finding]
    error: str | None = None

    @classmethod
    def _from_json(cls, text: str) -> Verdict:
        v = json.loads(text)
        severity = v["severity"]
        return cls(
            decision=v["decision"],
            severity=None if severity == "none" else severity,
            findings=[Finding._from_json(f) for f in v["findings"]],
            error=v.get("error"),
        )

    def __str__(self) -> str:
        if not self.findings:
            return self.decision
        worst = self.findings[0]
        return f"{self.decision}: {worst.kind} ({worst.severity}): {worst.message}: {worst.evidence}"


class Blocked(Exception):
    """A tool call the policy blocks. `tool_call` is the SDK's own object for
    it (a content block, a `tool_calls` entry) or None for `@cordon.tool`."""

    def __init__(self, tool: str, input: Any, verdict: Verdict, tool_call: Any = None):
        super().__init__(f"cordon blocked a call to `{tool}`: {verdict}")
        self.tool = tool
        self.input = input
        self.verdict = verdict
        self.tool_call = tool_call

    @property
    def findings(self) -> list[Finding]:
        return self.verdict.findings


def _policy_text(policy: PolicyArg) -> str:
    if policy is None:
        return ""
    with open(policy, encoding="utf-8") as f:
        return f.read()


class Guard:
    """One engine and one episode tracker. Calls are checked with what earlier
    events of their session showed, so results must be recorded as they come
    back (`record_result`) for provenance and data-flow findings to work.

    `policy` is a policy file (TOML); `mode` ("block" or "monitor") and
    `block_on` (severities) override the policy's. `session` names the episode
    (a fresh uuid by default); `task` is the user's request, which is trusted.
    """

    def __init__(
        self,
        policy: PolicyArg = None,
        *,
        mode: str | None = None,
        block_on: Iterable[str] | None = None,
        session: str | None = None,
        agent: str | None = None,
        task: str | None = None,
    ):
        self._checker = Checker(_policy_text(policy), mode, None if block_on is None else list(block_on))
        self.session = session or str(uuid.uuid4())
        self.agent = agent
        self.task = task

    def _event(self, kind: str, tool: str, id: Any, task: str | None, **body: Any) -> str:
        event = {"type": kind, "tool": tool, "session": self.session, **body}
        if id is not None:
            event["id"] = id
        if self.agent is not None:
            event["agent"] = self.agent
        if (task := task or self.task) is not None:
            event["task"] = task
        # Whatever the SDK hands us (pydantic models, tuples) becomes plain JSON.
        return json.dumps(event, default=str)

    def check_call(
        self, tool: str, input: Mapping[str, Any], *, id: Any = None, task: str | None = None, tool_call: Any = None
    ) -> Verdict:
        """Check a call about to run: raises `Blocked` on a block, logs a warning on a warn."""
        verdict = Verdict._from_json(self._checker.check(self._event("call", tool, id, task, input=dict(input))))
        if verdict.decision == "block":
            raise Blocked(tool, input, verdict, tool_call)
        if verdict.decision == "warn":
            log.warning("cordon: call to `%s`: %s", tool, verdict)
        return verdict

    def record_result(self, tool: str, output: Any, *, id: Any = None, task: str | None = None) -> Verdict:
        """Record what a call returned (its instructions and secrets feed later checks); never raises."""
        verdict = Verdict._from_json(self._checker.check(self._event("result", tool, id, task, output=output)))
        if verdict.findings:
            log.warning("cordon: result of `%s`: %s", tool, verdict)
        return verdict


_checkers: dict[str, Checker] = {}  # by policy text


def check(
    tool: str,
    input: Mapping[str, Any],
    *,
    session: str | None = None,
    agent: str | None = None,
    task: str | None = None,
    policy: PolicyArg = None,
) -> Verdict:
    """The verdict for one tool call, computed in process. Never raises on a
    block: look at `.decision`. Calls naming the same `session` share an episode."""
    text = _policy_text(policy)
    checker = _checkers.get(text)
    if checker is None:
        checker = _checkers[text] = Checker(text)
    event = {"tool": tool, "input": dict(input), "session": session, "agent": agent, "task": task}
    return Verdict._from_json(checker.check(json.dumps({k: v for k, v in event.items() if v is not None}, default=str)))
