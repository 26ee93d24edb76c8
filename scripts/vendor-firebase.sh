#!/bin/sh
# Vendors the Firebase JS SDK's compat builds that the field app needs for Web
# Push (mobile-sdk/webapp/static/vendor/firebase/). The app serves them itself,
# so its CSP keeps script-src 'self'. The files are committed: CI and builds
# never need npm; run this only to change the version, then commit the result.
#
#   sh scripts/vendor-firebase.sh [VERSION]
#
# npm verifies the tarball against the registry's integrity hash; the
# SHA-256 of each file goes into VENDOR.txt so a review can see what changed.
set -eu
VERSION=${1:-13.2.0}
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/mobile-sdk/webapp/static/vendor/firebase"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent "firebase@$VERSION" >/dev/null
tar xzf "firebase-$VERSION.tgz" package/package.json package/firebase-app-compat.js package/firebase-messaging-compat.js
license=$(node -p 'require("./package/package.json").license')
[ "$license" = "Apache-2.0" ] || { echo "firebase $VERSION is licensed $license, not Apache-2.0: review before vendoring" >&2; exit 1; }
mkdir -p "$out"
# The compat builds end with a sourceMappingURL comment; the map is not
# vendored, and the browser would ask for it (a 404 in the console).
for f in firebase-app-compat.js firebase-messaging-compat.js; do
  sed '/^\/\/# sourceMappingURL=/d' "package/$f" >"$out/$f"
done
{
  echo "Firebase JS SDK (npm package firebase) $VERSION"
  echo "Licence: Apache-2.0 (see LICENSE); Copyright Google LLC"
  echo "Source: https://registry.npmjs.org/firebase/-/firebase-$VERSION.tgz"
  echo "Vendored by scripts/vendor-firebase.sh; sourceMappingURL lines removed."
  echo "SHA-256:"
  (cd "$out" && sha256sum firebase-app-compat.js firebase-messaging-compat.js)
} >"$out/VENDOR.txt"
if [ -f /usr/share/common-licenses/Apache-2.0 ]; then
  cp /usr/share/common-licenses/Apache-2.0 "$out/LICENSE"
fi
[ -s "$out/LICENSE" ] || { echo "no Apache-2.0 licence text to copy into $out/LICENSE" >&2; exit 1; }
echo "vendored firebase $VERSION into $out"
