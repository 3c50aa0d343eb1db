"""Read the permission maps of deploy/nats/accounts.conf and answer "may user U publish S?".

Only the shapes that file uses are understood: top-level ``NAME = { publish: ..., subscribe:
... }`` variables whose ``publish``/``subscribe`` are a quoted subject or a map of ``allow`` /
``deny`` lists, and users ``{ user: U, password: ..., permissions: $NAME }``. nats-server
itself validates the syntax (`nats-server -t`); this is for checking the subjects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Rules:
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    def permits(self, subject: str) -> bool:
        allowed = not self.allow or any(subject_matches(p, subject) for p in self.allow)
        return allowed and not any(subject_matches(p, subject) for p in self.deny)


@dataclass(frozen=True)
class Permissions:
    publish: Rules = field(default_factory=Rules)
    subscribe: Rules = field(default_factory=Rules)
    allow_responses: bool = False


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS wildcards: `*` is one token, a final `>` one or more tokens."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > index
        if index >= len(tokens) or (token != "*" and token != tokens[index]):
            return False
    return len(tokens) == len(wanted)


def _strip_comments(text: str) -> str:
    return "\n".join(
        re.sub(r'^((?:[^"#]|"[^"]*")*)#.*$', r"\1", line) for line in text.splitlines()
    )


def _block(text: str, start: int) -> str:
    """The text between the brace at `start` and its partner."""
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : index]
    raise ValueError("unbalanced braces")


def _rules(body: str, key: str) -> Rules:
    single = re.search(rf'\b{key}:\s*"([^"]*)"', body)
    if single:
        return Rules(allow=(single.group(1),))
    found = re.search(rf"\b{key}:\s*\{{", body)
    if not found:
        return Rules()
    inner = _block(body, found.end() - 1)
    lists = {}
    for name in ("allow", "deny"):
        match = re.search(rf"\b{name}:\s*\[(.*?)\]", inner, re.DOTALL)
        lists[name] = tuple(re.findall(r'"([^"]*)"', match.group(1))) if match else ()
    return Rules(allow=lists["allow"], deny=lists["deny"])


def load(path: Path) -> dict[str, Permissions]:
    """User name -> permissions."""
    text = _strip_comments(path.read_text(encoding="utf-8"))
    variables = {}
    for match in re.finditer(r"^(\w+)\s*=\s*\{", text, re.MULTILINE):
        body = _block(text, match.end() - 1)
        variables[match.group(1)] = Permissions(
            publish=_rules(body, "publish"),
            subscribe=_rules(body, "subscribe"),
            allow_responses=bool(re.search(r"\ballow_responses:\s*true", body)),
        )
    users = {}
    for user, variable in re.findall(r"\{\s*user:\s*([\w-]+),.*?permissions:\s*\$(\w+)", text):
        users[user] = variables[variable]
    return users
