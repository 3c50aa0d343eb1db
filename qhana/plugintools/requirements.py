"""Combine the pip requirements plugins declare (``Plugin.requirements``), find conflicts.

Requirements of one distribution coming from several plugins are merged into one line
(the specifiers intersected); when no version can satisfy all of them at once the
distribution is reported as a conflict, naming the plugins that asked for what.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

__all__ = ["Combined", "Conflict", "combine_requirements"]


@dataclass(frozen=True, slots=True)
class Conflict:
    name: str
    wanted: list[tuple[str, str]]  # (requirement, plugin)

    def describe(self) -> str:
        asks = "; ".join(f"{req} (from {plugin})" for req, plugin in self.wanted)
        return f"conflicting requirements for {self.name}: {asks}"


@dataclass
class Combined:
    lines: list[str] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)


def _candidates(spec: SpecifierSet) -> list[Version]:
    """Versions at the edges of every specifier: a non-empty intersection contains one."""
    found = [Version("0")]
    for item in spec:
        try:
            version = Version(item.version.rstrip(".*"))
        except InvalidVersion:
            continue
        found += [version, Version(f"{version.base_version}.post999")]
    return found


def _satisfiable(spec: SpecifierSet) -> bool:
    if not str(spec):
        return True
    return any(spec.contains(v, prereleases=True) for v in _candidates(spec))


def _merge(name: str, wanted: list[tuple[Requirement, str]], combined: Combined) -> None:
    urls = {str(req.url) for req, _ in wanted if req.url}
    if urls:
        if len(urls) > 1:
            combined.conflicts.append(Conflict(name, [(str(r), p) for r, p in wanted]))
        combined.lines.append(f"{next(str(r) for r, _ in wanted if r.url)}")
        return
    spec = SpecifierSet(",".join(str(r.specifier) for r, _ in wanted if str(r.specifier)))
    if not _satisfiable(spec):
        combined.conflicts.append(Conflict(name, [(str(r), p) for r, p in wanted]))
        return
    extras = sorted({e for r, _ in wanted for e in r.extras})
    extra_text = f"[{','.join(extras)}]" if extras else ""
    sources = ", ".join(sorted({p for _, p in wanted}))
    markers = {str(r.marker) if r.marker else "" for r, _ in wanted}
    marker = markers.pop() if len(markers) == 1 else ""  # differing markers: install always
    marker_text = f"; {marker}" if marker else ""
    line = f"{wanted[0][0].name}{extra_text}{spec}{marker_text}"
    combined.lines.append(f"{line:<40}  # {sources}")


def combine_requirements(requested: Iterable[tuple[str, str]]) -> Combined:
    """``requested``: (requirement line, plugin identifier) pairs."""
    combined = Combined()
    by_name: dict[str, list[tuple[Requirement, str]]] = {}
    for line, plugin in requested:
        text = line.split("#", 1)[0].strip() if not line.strip().startswith("git+") else line
        if not text:
            continue
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            combined.invalid.append(f"{line!r} (from {plugin}): {exc}")
            continue
        by_name.setdefault(canonicalize_name(req.name), []).append((req, plugin))
    for name in sorted(by_name):
        _merge(name, by_name[name], combined)
    return combined
