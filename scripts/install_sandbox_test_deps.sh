#!/usr/bin/env bash
# What the `cordon run` tests (crates/cordon-cli/tests/run.rs) run against:
# an SSH server and client, OpenBSD netcat (for ssh's ProxyCommand through
# the proxy), iproute2 for the test namespaces, curl. Idempotent: installs
# only what is missing, and nothing at all when not root (the tests then
# skip with a reason).
set -euo pipefail
need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
nc -h 2>&1 | grep -q -- '-X proxy_protocol' || need+=(netcat-openbsd)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v python3 >/dev/null 2>&1 || need+=(python3)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install_sandbox_test_deps: missing ${need[*]} (not root or no apt-get); the sandbox tests will skip" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# A mirror that cannot be reached must not fail the whole test run: the
# sandbox tests check what they can and say what they could not.
if ! apt-get update -qq; then
  echo "install_sandbox_test_deps: apt-get update failed; ${need[*]} not installed" >&2
  exit 0
fi
# Installing openssh-server must not start a daemon on the host.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d.cordon && chmod +x /usr/sbin/policy-rc.d.cordon
if [ ! -e /usr/sbin/policy-rc.d ]; then cp /usr/sbin/policy-rc.d.cordon /usr/sbin/policy-rc.d; trap 'rm -f /usr/sbin/policy-rc.d' EXIT; fi
rm -f /usr/sbin/policy-rc.d.cordon
# shellcheck disable=SC2046
apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need[@]}" | sort -u) ||
  echo "install_sandbox_test_deps: apt-get install ${need[*]} failed; the sandbox tests will skip what needs them" >&2
