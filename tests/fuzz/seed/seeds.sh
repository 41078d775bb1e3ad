#!/bin/sh
# Rewrites the generated seed corpora under tests/fuzz/corpus (make
# fuzz-seeds): what mkseeds writes (see mkseeds.c), the packetdrill scripts
# of tests/scripts for fuzz_drill, and the demo's capture and JSON-lines
# trace for fuzz_pcap and fuzz_jsonl. Files another run of the fuzzer added
# (named by their hash) are left alone.
# Usage: seeds.sh BUILD-DIR (build/cc-release: its tests/fuzz-mkseeds and bin/ustack-demo)
set -eu
build=$1
here=$(dirname "$0")
corpus=$here/../corpus
# What an earlier run generated goes first, so nothing stale stays.
rm -f "$corpus"/fuzz_stack/sim-* "$corpus"/fuzz_jsonl/sim-* "$corpus"/fuzz_pcap/*.pcap "$corpus"/fuzz_drill/*.pkt
"$build/tests/fuzz-mkseeds" "$corpus"
mkdir -p "$corpus/fuzz_drill"
for s in "$here"/../../scripts/*/*.pkt; do
	group=$(basename "$(dirname "$s")")
	cp "$s" "$corpus/fuzz_drill/$group-$(basename "$s")"
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$build/bin/ustack-demo" --out "$out" >/dev/null
cp "$out/demo.pcap" "$corpus/fuzz_pcap/demo.pcap"
cp "$out/trace.jsonl" "$corpus/fuzz_jsonl/demo.jsonl"
