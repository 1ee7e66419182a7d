#!/usr/bin/env bash
# Install the Debian packages that drkit's tests and demo need and that Go modules or PyPI do not
# provide: the real node's runtime (containerd, runc, CNI plugins), the image builder (mmdebstrap,
# umoci), a static busybox for the test-application image, and the headless browser that tests
# the status page (chromium, chromium-driver: tests/e2e/test_status_page_browser.py).
#
#   hack/system-deps.sh            install what is missing (needs root and apt-get)
#   hack/system-deps.sh --check    list what is missing, install nothing (exit 1 when something is)
#
# Packages already installed are left alone, so a warm machine pays nothing.
set -euo pipefail

# gpg and debian-archive-keyring: mmdebstrap checks the Debian archive signatures (installed without
# its Recommends, it would not bring gpg)
packages=(containerd runc containernetworking-plugins busybox-static mmdebstrap gpg debian-archive-keyring umoci
  chromium chromium-driver)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[[ ${#missing[@]} -gt 0 ]] || exit 0
if [[ "${1:-}" == "--check" ]]; then
  printf 'missing Debian packages: %s\n' "${missing[*]}"
  exit 1
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  printf '[system-deps] cannot install %s: needs root and apt-get (install them, or run as root)\n' \
    "${missing[*]}" >&2
  exit 1
fi
printf '[system-deps] installing %s\n' "${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
