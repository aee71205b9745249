#!/usr/bin/env bash
# fuzz/seed.sh: fills fuzz/corpus/<target>/ (not committed) with starting
# inputs from the team's test vectors (../../shared/vectors, or $VECTORS):
# every encfs6.xml, V5/V4 binary configs, the encrypted names and symlink
# targets of each cipher tree, and the first 4 KiB of small cipher files.
set -euo pipefail
cd "$(dirname "$0")"
vectors=${VECTORS:-../../shared/vectors}
[[ -d $vectors ]] || { echo "seed.sh: no vectors at $vectors (set VECTORS)" >&2; exit 1; }
mkdir -p corpus/config_parser corpus/name_decoder corpus/content_decoder

n=0
for xml in "$vectors"/*/encfs6.xml; do
    cp "$xml" "corpus/config_parser/$(basename "$(dirname "$xml")").xml"
done
# V5 and V4 binary configs (format §2.6): varint count, then varint-length
# key and value strings.
python3 - corpus/config_parser <<'PY'
import sys
def varint(v):
    g = [v & 0x7f]; v >>= 7
    while v: g.append((v & 0x7f) | 0x80); v >>= 7
    return bytes(reversed(g))
def string(b): return varint(len(b)) + b
def iface(name, cur, rev): return string(name) + varint(cur) + varint(rev) + varint(0)
def config(entries): return varint(len(entries)) + b"".join(string(k) + string(v) for k, v in entries)
v5 = config([(b"creator", string(b"EncFS 1.1")), (b"subVersion", varint(20040813)),
             (b"cipher", iface(b"ssl/aes", 2, 1)), (b"naming", iface(b"nameio/block", 3, 0)),
             (b"keySize", varint(192)), (b"blockSize", varint(512)),
             (b"keyData", string(b"\xab" * 44)), (b"uniqueIV", varint(1)), (b"chainedIV", varint(1)),
             (b"externalIV", varint(0)), (b"blockMACBytes", varint(8)), (b"blockMACRandBytes", varint(0))])
v4 = config([(b"cipher", iface(b"ssl/aes", 1, 0)), (b"keySize", varint(128)),
             (b"blockSize", varint(1024)), (b"keyData", string(b"\x01" * 36))])
open(sys.argv[1] + "/v5.bin", "wb").write(v5)
open(sys.argv[1] + "/v4.bin", "wb").write(v4)
PY

while IFS= read -r -d '' path; do
    n=$((n + 1))
    printf '%s' "$(basename "$path")" >"corpus/name_decoder/name-$n"
    if [[ -L $path ]]; then
        printf '%s' "$(readlink "$path")" >"corpus/name_decoder/link-$n"
    elif [[ -f $path && $(stat -c %s "$path") -le 20000 ]]; then
        head -c 4096 "$path" >"corpus/content_decoder/file-$n"
    fi
done < <(find "$vectors"/*/cipher -mindepth 1 -print0)
echo "seed.sh: $(find corpus -type f | wc -l) seed inputs in fuzz/corpus/"
