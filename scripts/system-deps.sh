#!/usr/bin/env bash
# Install the real components the test suite starts itself (Debian packages), when missing.
#
# Each entry is "command:package". As root, everything missing is installed in one
# apt-get run (after `apt-get update`); otherwise the script says what to install and the
# tests that need a missing component skip with that reason. Never fails the build by itself:
# a component that truly cannot be installed is a skip, not an error.
set -uo pipefail

NEEDED=(
    "chromium:chromium"          # the page, driven by Playwright (tests/browser)
    "redis-server:redis-server"  # the Redis room broker (tests/server/test_broker*)
    "nginx:nginx"                # reverse proxy in front of the app (tests/deploy)
    "haproxy:haproxy"            # the other reverse proxy, WebSocket over HTTP/2
    "wrk:wrk"                    # HTTP load generator for make bench
)
# Fonts so that screenshots and the page render text.
EXTRA_PACKAGES=(fonts-dejavu-core)

missing=()
for entry in "${NEEDED[@]}"; do
    command="${entry%%:*}"
    package="${entry#*:}"
    if ! command -v "$command" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$command" ]; then
        missing+=("$package")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages the tests start: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Packaged services must not start on their default ports: the tests start their own.
    policy=/usr/sbin/policy-rc.d
    created_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
    fi
    apt-get update -qq &&
        apt-get install -y -qq --no-install-recommends "${missing[@]}" "${EXTRA_PACKAGES[@]}" \
            >/dev/null ||
        echo "could not install ${missing[*]}: the tests that need them will be skipped"
    [ "$created_policy" = 1 ] && rm -f "$policy"
else
    echo "missing: ${missing[*]}; install with 'sudo apt-get install ${missing[*]}'" \
        "(the tests that need them will be skipped)"
fi
exit 0
