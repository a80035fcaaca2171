#!/bin/sh
# Chooses the libcurl Portico links and writes it as a make fragment.
#
#   scripts/curl.sh static|system OUT.mk
#
# static: a static libcurl built from Debian's source of the installed
# libcurl4-openssl-dev (the same version and security patches), with HTTP,
# HTTPS, HTTP/2, OpenSSL and zlib only. Debian's shared libcurl also loads
# GnuTLS, Kerberos, LDAP, SASL, SSH, RTMP, IDN and PSL libraries that Portico
# never uses: 3.8 MiB of resident memory in every controller. Built once into
# ${PORTICO_CACHE:-$HOME/.cache/portico}/curl-<version>; when the source cannot
# be fetched or built, the shared library is linked instead, with a warning.
# system: Debian's shared libcurl.
set -eu

mode=$1
out=$2
cache=${PORTICO_CACHE:-${HOME:-/root}/.cache/portico}
version=$(dpkg-query -W -f='${Version}' libcurl4-openssl-dev 2>/dev/null || true)
# everything off but what the API client uses: HTTPS (HTTP/2, proxies, gzip)
# with OpenSSL; the threaded resolver keeps name lookups async. Without a CA
# from the kubeconfig, OpenSSL's default store (the system's CAs) is used.
flags="--disable-shared --enable-static --with-openssl --with-nghttp2 --with-zlib
    --without-libidn2 --without-libpsl --without-brotli --without-zstd --without-librtmp
    --without-libssh2 --without-libssh --without-gssapi --without-ca-bundle --without-ca-path
    --with-ca-fallback --disable-ldap --disable-ldaps --disable-rtsp --disable-dict
    --disable-telnet --disable-tftp --disable-pop3 --disable-imap --disable-smb --disable-smtp
    --disable-gopher --disable-mqtt --disable-ftp --disable-file --disable-ntlm
    --disable-tls-srp --disable-manual --disable-cookies --disable-alt-svc --disable-hsts
    --disable-netrc --disable-progress-meter"
# a build per version and configuration
dir=$cache/curl-$version-$(echo "$flags" | cksum | cut -d' ' -f1)

warn() { echo "curl.sh: $*" >&2; }

write_system() {
    {
        echo "CURL_CFLAGS := $(pkg-config --cflags libcurl)"
        echo "CURL_LIBS := $(pkg-config --libs libcurl)"
    } > "$out"
}

write_static() {
    {
        echo "CURL_CFLAGS := -I$dir/include"
        echo "CURL_LIBS := $dir/lib/libcurl.a $(cat "$dir/libs")"
    } > "$out"
}

# Fetches the source with apt-get into the current directory, from deb-src
# twins of the machine's own apt sources, without touching its configuration.
fetch_source() {
    mkdir -p apt/parts apt/lists/partial apt/cache/archives/partial
    : > apt/sources.list
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] && sed -n 's/^deb /deb-src /p' "$f" >> apt/parts/one-line.list
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && sed 's/^Types:.*/Types: deb-src/' "$f" > "apt/parts/${f##*/}"
    done
    set -- -q -o Dir::Etc::SourceList="$PWD/apt/sources.list" \
        -o Dir::Etc::SourceParts="$PWD/apt/parts" -o Dir::State::Lists="$PWD/apt/lists" \
        -o Dir::Cache="$PWD/apt/cache" -o Debug::NoLocking=true -o APT::Sandbox::User="$(id -un)"
    apt-get "$@" update >/dev/null &&
        apt-get "$@" source "curl=$version" >/dev/null
}

build_static() {
    work=$(mktemp -d "$cache/curl-build.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    cd "$work"
    fetch_source || { warn "cannot fetch Debian's source of curl $version"; return 1; }
    cd curl-*/ || return 1
    # shellcheck disable=SC2086 # one word per flag
    if ! ./configure -q $flags >/dev/null 2>&1; then
        cp config.log "$cache/curl-config.log"
        warn "curl's configure failed (log: $cache/curl-config.log)"
        return 1
    fi
    grep -q '^SUPPORT_FEATURES.*HTTP2' Makefile ||
        { warn "curl configured without HTTP/2 (libnghttp2-dev missing?)"; return 1; }
    make -s -j"$(nproc)" -C lib >/dev/null 2>&1 || { warn "building libcurl failed"; return 1; }
    mkdir -p ../done/lib ../done/include/curl &&
        cp lib/.libs/libcurl.a ../done/lib/ &&
        cp include/curl/*.h ../done/include/curl/ &&
        # the libraries the static archive needs, from its own configuration
        sed -n 's/^LIBCURL_LIBS = //p' Makefile > ../done/libs &&
        rm -rf "$dir" && mv ../done "$dir"
}

mkdir -p "$(dirname "$out")"
if [ "$mode" = system ]; then
    write_system
    exit 0
fi
if [ -z "$version" ]; then
    warn "libcurl4-openssl-dev is not installed (run scripts/deps.sh)"
    exit 1
fi
mkdir -p "$cache"
if [ ! -f "$dir/lib/libcurl.a" ]; then
    echo "building a static libcurl $version (once; cache: $dir)" >&2
    if ! (build_static); then
        warn "linking Debian's shared libcurl instead (3.8 MiB more resident memory)"
        write_system
        exit 0
    fi
fi
write_static
