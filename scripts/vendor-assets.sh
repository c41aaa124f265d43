#!/usr/bin/env bash
# Vendors the browser assets of /docs (Swagger UI), /redoc (ReDoc) and /console (Apache ECharts,
# htmx) into app/web/static/vendor/:
# government intranets (政务外网) have no internet, so the service never loads them from a CDN.
# Pinned versions, checked against the npm registry's sha512 integrity; each package's licence
# files are copied beside its code. Run from anywhere; commit the result. To upgrade, change a
# version, run with UPDATE=1 to print the new integrity, check the pages in a browser
# (tests/test_pages.py), then pin the printed integrity here.
set -euo pipefail

SWAGGER_UI_VERSION=5.35.0
SWAGGER_UI_INTEGRITY=sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==
REDOC_VERSION=2.5.4
REDOC_INTEGRITY=sha512-M6jWhG1qoBnH6TFmzJnstyCZ87HmOY/UzDm78mHiYihEdlV/YcS9ogOo1NlElnJMeLsyxHFe2yFc4sNjHTrABQ==
ECHARTS_VERSION=5.6.0
ECHARTS_INTEGRITY=sha512-oTbVTsXfKuEhxftHqL5xprgLoc0k7uScAwtryCgWF6hPYFLRwOUHiFmHGCBKP5NPFNkDVopOieyUqYGH8Fa3kA==
HTMX_VERSION=2.0.4
HTMX_INTEGRITY=sha512-HLxMCdfXDOJirs3vBZl/ZLoY+c7PfM4Ahr2Ad4YXh6d22T5ltbTXFFkpx9Tgb2vvmWFMbIc3LqN2ToNkZJvyYQ==

root="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$root/app/web/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# fetch <package> <version> <integrity> <dir>: the package's tarball unpacked into <dir>/package
fetch() {
    local name=$1 version=$2 expected=$3 dir=$4 integrity
    mkdir -p "$dir"
    integrity="$(cd "$dir" && npm pack --silent --json "$name@$version" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["integrity"])')"
    if [[ "${UPDATE:-0}" == 1 ]]; then
        echo "$name@$version integrity: $integrity" >&2
    elif [[ "$integrity" != "$expected" ]]; then
        echo "$name@$version: integrity $integrity, expected $expected" >&2
        exit 1
    fi
    tar -xzf "$dir"/*.tgz -C "$dir"
}

fetch swagger-ui-dist "$SWAGGER_UI_VERSION" "$SWAGGER_UI_INTEGRITY" "$work/swagger-ui"
fetch redoc "$REDOC_VERSION" "$REDOC_INTEGRITY" "$work/redoc"
fetch echarts "$ECHARTS_VERSION" "$ECHARTS_INTEGRITY" "$work/echarts"
fetch htmx.org "$HTMX_VERSION" "$HTMX_INTEGRITY" "$work/htmx"

rm -rf "$vendor"
mkdir -p "$vendor/swagger-ui" "$vendor/redoc" "$vendor/echarts" "$vendor/htmx"
(cd "$work/echarts/package" && cp LICENSE NOTICE dist/echarts.min.js "$vendor/echarts/")
(cd "$work/htmx/package" && cp LICENSE dist/htmx.min.js "$vendor/htmx/")
(cd "$work/swagger-ui/package" && cp LICENSE NOTICE swagger-ui-bundle.js \
    swagger-ui-bundle.js.LICENSE.txt swagger-ui.css "$vendor/swagger-ui/")
(cd "$work/redoc/package" && cp LICENSE bundles/redoc.standalone.js \
    bundles/redoc.standalone.js.LICENSE.txt "$vendor/redoc/")
# The bundles end with a sourceMappingURL to .map files we do not ship (a 404 in devtools).
sed -i '/^\/\/# sourceMappingURL=/d' "$vendor/swagger-ui/swagger-ui-bundle.js" \
    "$vendor/redoc/redoc.standalone.js"
sed -i '/^\/\*# sourceMappingURL=.*\*\/$/d' "$vendor/swagger-ui/swagger-ui.css"
# ReDoc's "API docs by Redocly" attribution draws an image from cdn.redoc.ly, whatever the
# options: an outside request, refused by /redoc's CSP. An empty inline SVG instead.
logo='"https://cdn.redoc.ly/redoc/logo-mini.svg"'
if ! grep -qF "$logo" "$vendor/redoc/redoc.standalone.js"; then
    echo "redoc $REDOC_VERSION: $logo not found; check what the bundle loads now" >&2
    exit 1
fi
sed -i "s|$logo|\"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E\"|" \
    "$vendor/redoc/redoc.standalone.js"

cat > "$vendor/VERSIONS" <<VERSIONS
# Written by scripts/vendor-assets.sh; do not edit by hand.
swagger-ui-dist $SWAGGER_UI_VERSION $SWAGGER_UI_INTEGRITY (Apache-2.0)
redoc $REDOC_VERSION $REDOC_INTEGRITY (MIT)
echarts $ECHARTS_VERSION $ECHARTS_INTEGRITY (Apache-2.0)
htmx.org $HTMX_VERSION $HTMX_INTEGRITY (0BSD)
# Changed from the packages: sourceMappingURL comments removed (the maps are not shipped);
# in redoc.standalone.js the attribution logo's URL (cdn.redoc.ly) is an empty inline SVG.
VERSIONS
echo "vendored into $vendor:" >&2
(cd "$vendor" && find . -type f | sort) >&2
