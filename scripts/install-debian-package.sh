#!/usr/bin/env bash
# install-debian-package.sh COMMAND PACKAGE: installs PACKAGE from Debian unless COMMAND is
# already there, when we may (root, apt-get); quiet success, one-line failure.
set -u
command="$1" package="$2"
if command -v "$command" >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install $package with your package manager (Debian: apt-get install $package)" >&2
  exit 1
fi
(apt-get update -qq && apt-get install -y -qq "$package") >/dev/null 2>&1 || {
  echo "apt-get could not install $package" >&2
  exit 1
}
