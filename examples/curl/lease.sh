#!/bin/sh
# A remote worker's round trip with nothing but curl: enqueue a job, lease
# it, heartbeat, complete it with a result, and show it.
#
#   ROTA_SERVER=http://127.0.0.1:7700 sh examples/curl/lease.sh [KIND]
#
# ROTA_TOKEN, when the server needs one, is passed to curl on its standard
# input (never on the command line, where other users could read it).
# Needs only a POSIX shell, curl and sed; prints each answer and exits
# non-zero when a step fails. rota's tests run it against a real server.
set -eu

server="${ROTA_SERVER:-http://127.0.0.1:7700}"
kind="${1:-demo.curl}"

# api METHOD PATH [BODY]: one request; prints the answer, fails on an error status.
api() {
	if [ -n "${ROTA_TOKEN:-}" ]; then
		auth="header = \"Authorization: Bearer $ROTA_TOKEN\""
	else
		auth=""
	fi
	method=$1 path=$2
	shift 2
	if [ $# -ge 1 ]; then
		set -- --data-binary "$1"
	fi
	if ! answer=$(printf '%s\n' "$auth" | curl --silent --show-error --fail-with-body --config - \
		--header 'Content-Type: application/json' --request "$method" "$server$path" "$@"); then
		echo "$method $path failed: $answer" >&2
		return 1
	fi
	printf '%s\n' "$answer"
}

# field NAME: the first value of "NAME" in the JSON on stdin (a number, or a
# string without commas or braces: enough for ids, tokens and times).
field() {
	tr ',{}' '\n\n\n' | sed -n "s/^\"$1\":\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" | head -n 1
}

echo "== enqueue a $kind job"
job=$(api POST /v1/jobs "{\"kind\":\"$kind\",\"args\":{\"to\":\"curl\"}}")
echo "$job"
id=$(printf '%s' "$job" | field id)

echo "== lease it (waiting up to 5s)"
lease=$(api POST /v1/leases "{\"kinds\":[\"$kind\"],\"wait\":\"5s\",\"lease\":\"30s\",\"worker\":\"curl example\"}")
token=$(printf '%s' "$lease" | field token)
if [ -z "$token" ]; then
	echo "no job leased: $lease" >&2
	exit 1
fi
echo "leased job $(printf '%s' "$lease" | field id) until $(printf '%s' "$lease" | field deadline)"

echo "== heartbeat"
api POST /v1/leases/heartbeat "{\"token\":\"$token\"}"
echo

echo "== complete it"
api POST /v1/leases/complete "{\"token\":\"$token\",\"result\":{\"sent\":true}}" >/dev/null

echo "== job $id"
api GET "/v1/jobs/$id"
echo
