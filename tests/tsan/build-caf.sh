#!/bin/sh
# Builds CAF's core library with ThreadSanitizer, for `make test-tsan` only.
#
# Debian's libcaf_core is not instrumented, so TSan cannot see the
# synchronisation inside CAF (mailboxes, scheduler queues) and reports every
# message handed from one actor to another as a race. The fix is CAF itself
# built with -fsanitize=thread: the source is Debian's own source package of
# the installed libcaf-dev (its upstream tarball, checked against the hash in
# Debian's signed Sources index), built here and installed under OUT/prefix.
# Nothing of it is committed; the Release and ASan builds keep Debian's
# library.
#
# Usage: tests/tsan/build-caf.sh OUT   (idempotent; about 10 min on 2 cores)
set -eu
out=$(realpath -m "$1")
prefix="$out/prefix"
[ -f "$prefix/.built" ] && exit 0

pkg=$(dpkg-query -W -f='${source:Package}' libcaf-dev)
ver=$(dpkg-query -W -f='${source:Version}' libcaf-dev)
upstream=$(dpkg-query -W -f='${source:Upstream-Version}' libcaf-dev)
echo "build-caf: $pkg $ver with -fsanitize=thread into $prefix"

# A private apt state with Debian's deb-src entry: the machine's own
# sources and lists are left alone.
apt="$out/apt"
mkdir -p "$apt/lists/partial" "$apt/sources"
cat >"$apt/sources/debian-src.sources" <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
set -- -o Dir::Etc::SourceParts="$apt/sources" -o Dir::Etc::SourceList=/dev/null \
  -o Dir::State::Lists="$apt/lists" -o Debug::NoLocking=1
apt-get "$@" -qq update

# The upstream tarball only: its URI and SHA-256 come from the verified
# Sources index. Debian's own patch set (debian.tar.xz) is not applied: this mirror
# answers 404 for it, and the upstream source builds as it is with g++ 12.
line=$(apt-get "$@" --print-uris source "$pkg=$ver" 2>/dev/null | grep "_$upstream.orig.tar" | head -n 1)
[ -n "$line" ] || { echo "build-caf: no source for $pkg $ver in Debian's index" >&2; exit 1; }
uri=$(echo "$line" | cut -d"'" -f2)
file=$(echo "$line" | awk '{print $2}')
sha=$(echo "$line" | awk '{print $4}' | sed 's/^SHA256://')
cd "$out"
if [ ! -f "$file" ]; then
  curl -fsS --retry 3 -o "$file.part" "$uri"
  mv "$file.part" "$file"
fi
echo "$sha  $file" | sha256sum -c --quiet -
rm -rf src && mkdir src && tar -xf "$file" -C src --strip-components=1

# Core only (Gatehouse links nothing else). CAF's own memory caches are off so
# every allocation goes through the sanitizer's allocator.
cmake -S src -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX="$prefix" \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" \
  -DCAF_NO_IO=yes -DCAF_NO_OPENSSL=yes -DCAF_NO_OPENCL=yes -DCAF_NO_PYTHON=yes -DCAF_NO_TOOLS=yes \
  -DCAF_NO_EXAMPLES=yes -DCAF_NO_UNIT_TESTS=yes -DCAF_NO_MEM_MANAGEMENT=yes -DCAF_NO_SUMMARY=yes >/dev/null
cmake --build build -j "${JOBS:-$(nproc)}"
cmake --install build >/dev/null
[ -f "$prefix/include/caf/all.hpp" ] && ls "$prefix"/lib*/libcaf_core.so >/dev/null
touch "$prefix/.built"
