#!/bin/sh
# Entrypoint of the `qhana` image (POSIX sh; tini is PID 1 and execs this script).
#
#   <image> edge|worker|registry|recorder|streams|db|up|...   run `qhana <args>`
#   <image> qhana <args>                                      the same, spelled out
#   <image> --help                                            `qhana --help`
#   <image> sh -c '...'                                       any program on PATH
#   <image>                                                   role from CONTAINER_MODE (upstream):
#       CONTAINER_MODE=server (the default): qhana db upgrade, qhana streams apply, exec qhana edge
#       CONTAINER_MODE=worker:               exec qhana worker [--queue $QHANA_QUEUE]
#
# Before that it translates upstream's variables, only where no QHANA_ setting is given:
#   CELERY_QUEUE -> QHANA_QUEUE        SERVER_NAME -> QHANA_PUBLIC_URL=http://$SERVER_NAME/
#   PLUGIN_FOLDERS defaults to $APP_DIR/plugins:$APP_DIR/git-plugins:$APP_DIR/extra-plugins
# GIT_PLUGINS (one `git+<url>[@<ref>][#subdirectory=<dir>]` per line, upstream's format)
# is cloned by the worker itself at start; the entrypoint only points its checkouts to
# $APP_DIR/git-plugins/.repositories (QHANA_GIT_PLUGINS_DIR), so /app/git-plugins can
# still hold plugins copied in as upstream's image has them, without loading a checkout
# twice (the plugin loader skips dot folders).
#
# APP_DIR (default /app) exists for the tests; nothing else needs to set it.
set -eu

APP_DIR=${APP_DIR:-/app}

# The first words the qhana CLI understands; anything else that is a program on PATH
# is run as it is, and the rest is handed to qhana so its own error message shows.
KNOWN_COMMANDS="edge worker registry recorder streams db up cluster plugins plugin tasks runners bench asyncapi"

log() {
    printf 'entrypoint: %s\n' "$*" >&2
}

die() {
    log "error: $*"
    exit 64
}

is_qhana_command() {
    case " $KNOWN_COMMANDS " in
        *" $1 "*) return 0 ;;
        *) return 1 ;;
    esac
}

# --- upstream variables -> QHANA_ settings ----------------------------------------

map_upstream_env() {
    if [ -z "${QHANA_QUEUE-}" ] && [ -n "${CELERY_QUEUE-}" ]; then
        QHANA_QUEUE=$CELERY_QUEUE
        export QHANA_QUEUE
        log "QHANA_QUEUE=$QHANA_QUEUE (from CELERY_QUEUE)"
    fi
    if [ -z "${QHANA_PUBLIC_URL-}" ] && [ -n "${SERVER_NAME-}" ]; then
        QHANA_PUBLIC_URL="http://$SERVER_NAME/"
        export QHANA_PUBLIC_URL
        log "QHANA_PUBLIC_URL=$QHANA_PUBLIC_URL (from SERVER_NAME)"
    fi
    # Set but empty means "no plugin folders": only an unset variable gets the default.
    if [ -z "${PLUGIN_FOLDERS+set}" ] && [ -z "${QHANA_PLUGIN_FOLDERS+set}" ]; then
        PLUGIN_FOLDERS="$APP_DIR/plugins:$APP_DIR/git-plugins:$APP_DIR/extra-plugins"
        export PLUGIN_FOLDERS
    fi
    if [ -z "${QHANA_GIT_PLUGINS_DIR-}" ]; then
        QHANA_GIT_PLUGINS_DIR="$APP_DIR/git-plugins/.repositories"
        export QHANA_GIT_PLUGINS_DIR
    fi
}

# --- run ------------------------------------------------------------------------

# Tell the image's HEALTHCHECK which role runs here (best effort: /tmp may be read-only).
note_role() {
    printf '%s\n' "$1" >"${TMPDIR:-/tmp}/qhana-role" 2>/dev/null || true
}

run_qhana() {
    note_role "$1"
    log "exec qhana $*"
    exec qhana "$@"
}

run_container_mode() {
    mode=$(printf '%s' "${CONTAINER_MODE:-server}" | tr '[:upper:]' '[:lower:]')
    case $mode in
        server)
            log "CONTAINER_MODE=server: db upgrade, streams apply, edge"
            qhana db upgrade
            qhana streams apply
            run_qhana edge
            ;;
        worker)
            if [ -n "${QHANA_QUEUE-}" ]; then
                run_qhana worker --queue "$QHANA_QUEUE"
            else
                run_qhana worker
            fi
            ;;
        *) die "CONTAINER_MODE must be server or worker (got '${CONTAINER_MODE-}'); or pass a command" ;;
    esac
}

main() {
    map_upstream_env
    if [ "$#" -eq 0 ]; then
        run_container_mode
    fi
    case $1 in
        qhana)
            shift
            if [ "$#" -eq 0 ]; then
                note_role other
                exec qhana
            fi
            run_qhana "$@"
            ;;
        -*) run_qhana "$@" ;;
    esac
    if is_qhana_command "$1"; then
        run_qhana "$@"
    fi
    if command -v "$1" >/dev/null 2>&1; then
        note_role other
        exec "$@"
    fi
    run_qhana "$@"
}

main "$@"
