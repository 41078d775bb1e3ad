#!/bin/sh
# Installs what `make check` needs on Debian when it is missing: Criterion
# for the unit tests, the kernel-side peers of the interoperability tests,
# and clang (with its sanitizer runtime) when CC is clang. As root it uses apt-get; otherwise it says what to install.
set -eu
need=""
[ -f /usr/include/criterion/criterion.h ] || need="$need libcriterion-dev"
command -v pkg-config >/dev/null 2>&1 || need="$need pkg-config"
# The interoperability tests: the kernel's peers and the tools to watch them.
command -v python3 >/dev/null 2>&1 || need="$need python3"
command -v curl >/dev/null 2>&1 || need="$need curl"
command -v nc >/dev/null 2>&1 || need="$need netcat-openbsd"
command -v nft >/dev/null 2>&1 || need="$need nftables"
command -v ip >/dev/null 2>&1 || need="$need iproute2"
command -v bc >/dev/null 2>&1 || need="$need bc"
command -v ping >/dev/null 2>&1 || need="$need iputils-ping"
# The diagram tests check their SVG with xmllint.
command -v xmllint >/dev/null 2>&1 || need="$need libxml2-utils"
# The capture tests read ustack's pcap files back with Wireshark's decoder.
command -v tshark >/dev/null 2>&1 || need="$need tshark"
# The diagram test captures the kernel's own TCP with tcpdump.
command -v tcpdump >/dev/null 2>&1 || need="$need tcpdump"
# The hostile-peer battery crafts its packets with scapy, in the system
# Python (tests/interop/hostile/battery.sh finds it there).
if ! python3 -c 'import scapy' 2>/dev/null && ! /usr/bin/python3 -c 'import scapy' 2>/dev/null; then
	need="$need python3-scapy"
fi
# The fuzz targets are built with clang whatever CC is (libFuzzer).
command -v clang >/dev/null 2>&1 || need="$need clang libclang-rt-dev"
[ -n "$need" ] || exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "make check needs:$need (run as root to install them, or: apt-get install$need)" >&2
	exit 1
fi
echo "installing:$need"
export DEBIAN_FRONTEND=noninteractive
# wireshark-common otherwise asks whether non-root users may capture.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq $need >/dev/null
