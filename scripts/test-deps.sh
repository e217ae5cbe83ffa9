#!/usr/bin/env bash
# Installs the system packages the integration tests need (internal/testlab
# starts real dockerd processes): docker.io for dockerd and its 20.10 CLI,
# prometheus for promtool (the tests run `promtool check metrics` on a real
# scrape, check and unit-test the shipped rules) and for the real Prometheus
# the end-to-end test scrapes with, prometheus-alertmanager for amtool and
# the real Alertmanager that test sends alerts through, iproute2 and curl for poking at test hosts by hand, openssh-server
# for the test sshd that plays a host reached over SSH (internal/testlab starts
# its own instances; the package's postinst may also start the system sshd),
# openssh-client for the tests that check it with ssh(1), and gcc, which
# `go test -race` needs (cgo). Idempotent, and
# silent when everything is already there.
set -euo pipefail

missing=()
[[ -x /usr/sbin/dockerd && -x /usr/bin/docker ]] || missing+=(docker.io)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v curl >/dev/null 2>&1 || missing+=(curl)
[[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
command -v gcc >/dev/null 2>&1 || missing+=(gcc) # go test -race needs cgo
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)

if [[ ${#missing[@]} -eq 0 ]]; then
	exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
	echo "test-deps: missing packages: ${missing[*]}" >&2
	echo "test-deps: run as root to install them: sudo $0" >&2
	exit 1
fi

echo "test-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
