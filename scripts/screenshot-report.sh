#!/usr/bin/env bash
# Renders an exported report.html with headless Chromium: scripts/screenshot-report.sh REPORT.html OUT.png
set -euo pipefail
report=$(realpath "$1")
out=$(realpath -m "$2")
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
    echo "screenshot-report: no chromium found (apt-get install chromium)" >&2
    exit 1
fi
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1100,2000 \
    --screenshot="$out" "file://$report" >/dev/null 2>&1
echo "wrote $out"
