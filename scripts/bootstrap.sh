#!/usr/bin/env bash
# Makes this machine able to run wapipe: the Debian packages it needs and a
# project .venv. Quiet and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_MAJOR="${WAPIPE_PG_MAJOR:-15}"
PYTHON="${PYTHON:-python3}"
VENV=".venv"

missing=()
[ -x "/usr/lib/postgresql/${PG_MAJOR}/bin/postgres" ] || missing+=("postgresql-${PG_MAJOR}")
[ -f "/usr/share/postgresql/${PG_MAJOR}/extension/pg_cron.control" ] || missing+=("postgresql-${PG_MAJOR}-cron")
[ -f "/usr/share/postgresql/${PG_MAJOR}/extension/pg_partman.control" ] || missing+=("postgresql-${PG_MAJOR}-partman")
[ -f "/usr/share/postgresql/${PG_MAJOR}/extension/pgtap.control" ] || missing+=("postgresql-${PG_MAJOR}-pgtap")
command -v pg_prove >/dev/null 2>&1 || missing+=("libtap-parser-sourcehandler-pgtap-perl")
[ -n "${WAPIPE_BOOTSTRAP_EXTRA:-}" ] && for pkg in ${WAPIPE_BOOTSTRAP_EXTRA}; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done

if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "wapipe: missing Debian packages; run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "wapipe: installing ${missing[*]} (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    # Fresh machines often have empty package lists.
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "wapipe: Python >= 3.11 is required (found: $("$PYTHON" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
    exit 1
fi

stamp="$VENV/.wapipe-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ]; then
    if ! "$PYTHON" -m venv "$VENV" >/dev/null 2>&1; then
        rm -rf "$VENV"
        if [ "$(id -u)" -eq 0 ]; then
            apt-get install -y -qq python3-venv >/dev/null
            "$PYTHON" -m venv "$VENV"
        else
            echo "wapipe: '$PYTHON -m venv' failed; run: sudo apt-get install -y python3-venv" >&2
            exit 1
        fi
    fi
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "wapipe: installing the project into $VENV" >&2
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
    if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev]' >"$VENV/pip.log" 2>&1; then
        cat "$VENV/pip.log" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
fi
