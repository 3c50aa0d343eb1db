"""URL rewrite rules (``URL_MAP_FROM_LOCALHOST`` and friends): a JSON object
``{"<regex>": "<replacement>"}`` applied in order with ``re.sub``, as upstream does.

E.g. ``{"^http://localhost:5005": "http://edge:5005"}`` lets a worker in a container fetch an
input URL that the browser produced for ``localhost``. Imports nothing of ours.
"""

from __future__ import annotations

import json
import re

__all__ = ["UrlRewriter"]


class UrlRewriter:
    """The parsed rules; calling it rewrites one URL (unchanged when no rule matches)."""

    def __init__(self, rules: dict[str, str] | None = None) -> None:
        self._rules = [(re.compile(k), str(v)) for k, v in (rules or {}).items()]

    @classmethod
    def parse(cls, *raws: str | None) -> UrlRewriter:
        """From settings' texts, their rules in order; empty means none. ValueError if bad."""
        rules: dict[str, str] = {}
        for raw in raws:
            rules.update(_rules(raw))
        try:
            return cls(rules)
        except re.error as exc:
            raise ValueError(f"invalid regex in URL map: {exc}") from exc

    def __bool__(self) -> bool:
        return bool(self._rules)

    def __call__(self, url: str) -> str:
        for pattern, replacement in self._rules:
            url = pattern.sub(replacement, url)
        return url


def _rules(raw: str | None) -> dict[str, str]:
    if raw is None or not raw.strip():
        return {}
    try:
        rules = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"a URL map must be JSON: {exc}") from exc
    if not isinstance(rules, dict):
        raise ValueError('a URL map must be a JSON object {"<regex>": "<replacement>"}')
    return {str(k): str(v) for k, v in rules.items()}
