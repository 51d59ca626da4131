#!/usr/bin/env bash
# Installs bubblewrap (the sandbox) from Debian when we may; quiet success, one-line failure.
set -u
if command -v bwrap >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install bubblewrap with your package manager (Debian: apt-get install bubblewrap)" >&2
  exit 1
fi
(apt-get update -qq && apt-get install -y -qq bubblewrap) >/dev/null 2>&1 || {
  echo "apt-get could not install bubblewrap" >&2
  exit 1
}
