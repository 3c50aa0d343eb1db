# QHAna on NATS JetStream — the commands people type. `just --list` explains each.
set shell := ["bash", "-euo", "pipefail", "-c"]

venv := justfile_directory() / ".venv"
export PATH := venv / "bin" + ":" + env_var("PATH")

# show the recipes
default:
    @just --list

# create .venv and install qhana with its dev tools (editable)
install:
    test -x {{venv}}/bin/python || python3 -m venv {{venv}}
    {{venv}}/bin/pip install -q -e '.[dev]'

# run everything on this machine: embedded nats-server + SQLite + all roles (Ctrl-C stops)
up *ARGS:
    qhana up {{ARGS}}

# format the code (ruff)
fmt:
    ruff format qhana plugins tests
    ruff check --fix qhana plugins tests

# ruff + mypy --strict + import-linter contracts (the dependency rules of DESIGN.md)
lint:
    ruff check qhana plugins tests
    ruff format --check qhana plugins tests
    mypy
    lint-imports

# install Debian's chromium for the browser tests if it is missing
browser-deps:
    command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# lint, then every test (SQLite and PostgreSQL lanes, browser, shortened fault runs); CI runs this
test *ARGS: browser-deps lint
    pytest -q {{ARGS}}

# the long fault-injection runs (bounded in count and time, loopback only)
test-faults *ARGS:
    QHANA_FAULTS_FULL=1 pytest -q -m slow {{ARGS}}

# apply streams, consumers, KV and object store buckets to QHANA_NATS_URL
streams *ARGS:
    qhana streams apply {{ARGS}}

# upgrade the database at QHANA_DATABASE_URL to the newest schema
db-upgrade:
    qhana db upgrade

# benchmark a fresh stack (bounded, 127.0.0.1 only): table + `--json FILE`; `--quick` < 1 min
bench *ARGS:
    qhana bench {{ARGS}}

# a local 3-node nats-server cluster (loopback, R3 streams) with all roles on it (Ctrl-C stops)
cluster *ARGS:
    qhana cluster {{ARGS}}

# check the deployment files (compose, k8s, Containerfile, NATS accounts): pytest tests/deploy
deploy-check *ARGS:
    pytest -q tests/deploy {{ARGS}}

# regenerate streams/asyncapi.yaml (every subject and payload) from qhana/wire and qhana/bus
asyncapi:
    qhana asyncapi
