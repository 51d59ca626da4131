#!/usr/bin/env bash
# Installs Chromium (the headless browser the feedback-page test renders with) from Debian when
# we may; quiet success, one-line failure. Without it that one test is skipped, saying why.
exec "$(dirname "$0")/install-debian-package.sh" chromium chromium
