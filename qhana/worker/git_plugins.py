"""``GIT_PLUGINS``: clone (or update) plugin repositories at worker start.

Each non-empty line is pip-style ``git+<url>[@<ref>][#subdirectory=<dir>]``, as upstream
reads it. A repository is cloned into ``<git_plugins_dir>/<name>-<hash>``; when it is there
already it is fetched and checked out again (the newest commit of the ref, or of the
default branch). The plugin folder is the clone (or its ``subdirectory``). A repository that
cannot be cloned is a load error of the worker (logged and announced), never fatal.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

from qhana.logging import get_logger
from qhana.wire import LoadError

__all__ = ["GitPlugin", "parse_git_plugins", "sync_git_plugins"]

log = get_logger("qhana.worker.git_plugins")
GIT_TIMEOUT_S = 300.0


@dataclass(frozen=True, slots=True)
class GitPlugin:
    line: str
    url: str
    ref: str | None
    subdirectory: str | None

    @property
    def folder_name(self) -> str:
        stem = self.url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git") or "repo"
        digest = hashlib.sha1(f"{self.url}@{self.ref}".encode()).hexdigest()[:8]
        return f"{stem}-{digest}"


def parse_line(line: str) -> GitPlugin:
    text = line.strip()
    if not text.startswith("git+"):
        raise ValueError(f"not a git+<url> requirement: {text!r}")
    url, _, fragment = text[4:].partition("#")
    subdirectory = parse_qs(fragment).get("subdirectory", [None])[0]
    scheme, sep, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    ref = None
    if sep and slash and "@" in path:
        path, _, ref = path.rpartition("@")
        url = f"{scheme}://{host}/{path}"
    if subdirectory and (Path(subdirectory).is_absolute() or ".." in Path(subdirectory).parts):
        raise ValueError(f"subdirectory must stay inside the repository: {subdirectory!r}")
    return GitPlugin(line=text, url=url, ref=ref or None, subdirectory=subdirectory)


def parse_git_plugins(text: str) -> tuple[list[GitPlugin], list[LoadError]]:
    specs: list[GitPlugin] = []
    errors: list[LoadError] = []
    for line in text.splitlines():
        if not line.strip() or line.strip().startswith("#"):
            continue
        try:
            specs.append(parse_line(line))
        except ValueError as exc:
            errors.append(
                LoadError(source=f"GIT_PLUGINS {line.strip()}", error=str(exc), traceback="")
            )
    return specs, errors


async def _git(*args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    proc = await asyncio.create_subprocess_exec(
        "git",
        *args,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), GIT_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"git {args[0]} timed out after {GIT_TIMEOUT_S:g} s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"git {args[0]} failed: {err.decode().strip()}")
    return out.decode().strip()


async def _checkout_target(spec: GitPlugin, dest: Path) -> str:
    if spec.ref is None:
        return "origin/HEAD"
    try:
        await _git("rev-parse", "--verify", "--quiet", f"origin/{spec.ref}^{{commit}}", cwd=dest)
        return f"origin/{spec.ref}"  # a branch: its newest commit
    except RuntimeError:
        return spec.ref  # a tag or a commit


async def sync_one(spec: GitPlugin, root: Path) -> Path:
    """Clone or update one repository; returns its plugin folder."""
    dest = root / spec.folder_name
    if (dest / ".git").is_dir():
        await _git("fetch", "--quiet", "--tags", "--force", "origin", cwd=dest)
        action = "updated"
    else:
        root.mkdir(parents=True, exist_ok=True)
        await _git("clone", "--quiet", spec.url, str(dest))
        action = "cloned"
    target = await _checkout_target(spec, dest)
    await _git("checkout", "--quiet", "--force", "--detach", target, cwd=dest)
    commit = await _git("rev-parse", "--short", "HEAD", cwd=dest)
    log.info("git_plugins." + action, url=spec.url, ref=spec.ref, commit=commit)
    folder = dest / spec.subdirectory if spec.subdirectory else dest
    if not folder.is_dir():
        raise RuntimeError(f"subdirectory {spec.subdirectory!r} not found in {spec.url}")
    return folder


async def sync_git_plugins(text: str, root: Path) -> tuple[list[Path], list[LoadError]]:
    """Clone/update every repository of ``GIT_PLUGINS``; returns plugin folders and errors."""
    specs, errors = parse_git_plugins(text)
    folders: list[Path] = []
    for spec in specs:
        try:
            folders.append(await sync_one(spec, root))
        except (RuntimeError, OSError) as exc:
            log.error("git_plugins.failed", url=spec.url, error=str(exc))
            errors.append(
                LoadError(source=f"GIT_PLUGINS {spec.line}", error=str(exc), traceback="")
            )
    return folders, errors
