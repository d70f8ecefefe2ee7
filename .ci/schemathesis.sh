#!/usr/bin/env bash
# Fuzzes the public HTTP API against its own OpenAPI document with schemathesis (PyPI), as four
# roles: a resident, a merchant's operator, the city admin and a partner client. Starts
# `healthpoints up --demo` on a throw-away data directory and a free loopback port, signs each
# role in, runs every check with a bounded number of examples per operation, and exits non-zero
# on any failure.
#
#   .ci/schemathesis.sh [HEALTHPOINTS_BINARY] [MAX_EXAMPLES]
#
# Needs `st` on PATH and requests-oauthlib for python3 (pip install schemathesis==4.32.5
# requests-oauthlib==2.0.0), and curl. OAUTH2_CHECK=0 skips the OAuth2 client's check.
set -euo pipefail
BIN=$(realpath "${1:-target/debug/healthpoints}")
HERE=$(cd "$(dirname "$0")" && pwd)
MAX_EXAMPLES=${2:-${ST_MAX_EXAMPLES:-25}}
ST=${ST:-st}
WORK=$(mktemp -d /tmp/hp-st.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
"$BIN" up --demo --data-dir "$WORK/data" --http-addr "127.0.0.1:$PORT" --web-addr none >"$WORK/up.log" 2>&1 &
UP=$!
cleanup() { kill "$UP" 2>/dev/null || true; wait "$UP" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 1 120); do
  grep -q "stop with Ctrl-C" "$WORK/up.log" 2>/dev/null && break
  kill -0 "$UP" 2>/dev/null || { cat "$WORK/up.log" >&2; echo "healthpoints up exited" >&2; exit 1; }
  sleep 0.5
done
grep -q "stop with Ctrl-C" "$WORK/up.log" || { echo "healthpoints did not come up" >&2; exit 1; }

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
login() {
  curl -sf -XPOST "$BASE/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"login\":\"$1\",\"password\":\"$2\"}" | json "['access_token']"
}
ADMIN=$(login admin Admin-pass-2026)
RESIDENT=$(login 13900000001 Demo-pass-2026)
MERCHANT=$(login shop-city-1 Demo-pass-2026)
CLIENT=$(curl -sf -XPOST "$BASE/v1/admin/partners" -H "authorization: Bearer $ADMIN" \
  -H 'content-type: application/json' \
  -d '{"name":"Sports bureau","department":"sports","kind":"department","behaviours":["steps.daily"],"scopes":["behaviours:submit","fhir:submit","statistics:read","points-summary:read"]}')
# A standard OAuth2 client library obtains the partner's tokens (RFC 6749 §4.4, Basic and post).
if [ "${OAUTH2_CHECK:-1}" = 1 ]; then
  python3 "$HERE/oauth2_client.py" "$BASE" \
    "$(echo "$CLIENT" | json "['client_id']")" "$(echo "$CLIENT" | json "['client_secret']")"
fi
PARTNER=$(curl -sf -XPOST "$BASE/v1/auth/token" -H 'content-type: application/json' \
  -d "{\"grant_type\":\"client_credentials\",\"client_id\":\"$(echo "$CLIENT" | json "['client_id']")\",\"client_secret\":\"$(echo "$CLIENT" | json "['client_secret']")\"}" \
  | json "['access_token']")

status=0
for role in resident merchant admin partner; do
  case $role in
    resident) token=$RESIDENT ;; merchant) token=$MERCHANT ;;
    admin) token=$ADMIN ;; partner) token=$PARTNER ;;
  esac
  echo "== schemathesis as $role (at most $MAX_EXAMPLES examples per operation)"
  # Tokens last 15 minutes; one role's run is bounded well below that.
  # From the work directory: schemathesis keeps a cache (.schemathesis/) where it runs.
  if ! (cd "$WORK" && "$ST" --no-color --config-file "$HERE/schemathesis.toml" run "$BASE/openapi.json" --url "$BASE" \
      -H "Authorization: Bearer $token" \
      --checks all --max-examples "$MAX_EXAMPLES" --seed 1 \
      >"$WORK/st-$role.log" 2>&1); then
    status=1
  fi
  # The summary, and every failure in full.
  awk '/^=+ (SUMMARY|FAILURES)/{on=1} on && n++ < 400' "$WORK/st-$role.log"
  mkdir -p "${ST_LOG_DIR:-/tmp/hp-st-logs}" && cp "$WORK/st-$role.log" "${ST_LOG_DIR:-/tmp/hp-st-logs}/"
done
exit $status
