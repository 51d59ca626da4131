#!/usr/bin/env bash
# Installs bubblewrap (the sandbox) from Debian when we may; quiet success, one-line failure.
exec "$(dirname "$0")/install-debian-package.sh" bwrap bubblewrap
