#!/bin/sh
# Redraw the README's screenshots of the tablet and QR pages (docs/screenshots/kiosk-*.png):
# the browser tests take them on the live service; this keeps them.
set -eu
cd "$(dirname "$0")/.."
HAOCHAPING_SCREENSHOTS="$PWD/docs/screenshots" .venv/bin/pytest tests/kiosk/test_pages.py -q -p no:cacheprovider
