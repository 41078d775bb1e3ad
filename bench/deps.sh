#!/bin/sh
# What `make bench` needs beyond the compiler: Python 3 (bench/run.py),
# valgrind (instruction counts), iproute2 and ethtool (the TUN and veth
# benchmarks' namespaces, with the veth pair's offloads turned off). As root
# it installs what is missing with apt-get; otherwise it says what to install
# and the benchmarks that need root are skipped.
need=""
command -v python3 >/dev/null 2>&1 || need="$need python3"
command -v valgrind >/dev/null 2>&1 || need="$need valgrind"
command -v ip >/dev/null 2>&1 || need="$need iproute2"
command -v ethtool >/dev/null 2>&1 || need="$need ethtool"
[ -z "$need" ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "make bench would like:$need (apt-get install$need)" >&2
	exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
