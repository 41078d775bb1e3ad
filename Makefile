# ustack: GNU Make build.
#
#   make              libraries and tools (build/<cc>-release)
#   make demo         the article's story on the simulator
#   make docs-png     its diagram as docs/handshake.png (rsvg-convert, librsvg2-bin)
#   make check        install test dependencies (as root), build, run every
#                     suite plain and under ASan+UBSan, print the totals
#   make install PREFIX=/usr/local
#   make fuzz         every libFuzzer target (clang) for FUZZ_TIME seconds
#                     (default 60) each, or those in FUZZ_TARGETS
#   make fuzz-seeds   regenerate the seed corpora in tests/fuzz/corpus
#
# V selects a variant: release (default) or asan. Each compiler and variant
# builds into its own folder, so `make check CC=clang` reuses nothing of gcc's.

CC ?= cc
V ?= release
PREFIX ?= /usr/local
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

CCNAME := $(notdir $(firstword $(CC)))
BUILD_ROOT ?= build
B := $(BUILD_ROOT)/$(CCNAME)-$(V)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
BASE_CFLAGS := -std=c11 -D_DEFAULT_SOURCE -g $(WARN) -Iinclude -Isrc -fPIC -fvisibility=hidden -MMD -MP
ifeq ($(V),asan)
VFLAGS := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
else ifeq ($(V),release)
VFLAGS := -O2
else
$(error V must be release or asan)
endif
ALL_CFLAGS := $(BASE_CFLAGS) $(VFLAGS) $(CFLAGS)
ALL_LDFLAGS := $(VFLAGS) $(LDFLAGS)

LIB_SRC := $(sort $(wildcard src/*/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
TOOL_SRC := $(sort $(wildcard tools/*.c))
TOOLS := $(TOOL_SRC:tools/%.c=$(B)/bin/%)
TOOL_LIB_OBJ := $(patsubst %.c,$(B)/%.o,$(sort $(wildcard tools/lib/*.c)))
# ustack-drill's parts (tools/drill/), linked into it alone.
DRILL_OBJ := $(patsubst %.c,$(B)/%.o,$(sort $(wildcard tools/drill/*.c)))
HELPER_SRC := $(sort $(wildcard tests/helpers/*.c))
HELPER_OBJ := $(HELPER_SRC:%.c=$(B)/%.o)
TEST_SRC := $(sort $(wildcard tests/unit/*.c tests/scenario/*.c))
TESTS := $(TEST_SRC:tests/%.c=$(B)/tests/%)
# Programs the interoperability tests run (tests/interop/*.sh), without Criterion.
INTEROP_SRC := $(sort $(wildcard tests/interop/*.c))
INTEROP := $(INTEROP_SRC:tests/%.c=$(B)/tests/%)

.PHONY: all lib tools tests check check-build demo docs-png install clean deps soak fuzz fuzz-build fuzz-seeds

all: lib tools

lib: $(B)/libustack.a $(B)/libustack.so
tools: $(TOOLS)
tests: $(TESTS) $(INTEROP)

# VERBOSE=1 shows the commands.
ifeq ($(VERBOSE),1)
Q :=
say = @true
else
Q := @
say = @printf '  %-6s %s\n' $(1) $(2)
endif

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/libustack.a: $(LIB_OBJ)
	@rm -f $@
	$(call say,AR,$@)
	$(Q)ar rcs $@ $^

$(B)/libustack.so: $(LIB_OBJ)
	$(call say,LD,$@)
	$(Q)$(CC) -shared -Wl,-soname,libustack.so.0 $(ALL_LDFLAGS) -o $@ $^

$(B)/bin/%: $(B)/tools/%.o $(TOOL_LIB_OBJ) $(B)/libustack.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^

$(B)/bin/ustack-drill: $(B)/tools/ustack-drill.o $(DRILL_OBJ) $(TOOL_LIB_OBJ) $(B)/libustack.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^

$(B)/tests/%.o: ALL_CFLAGS += -Itests/helpers -Itools
$(B)/tests/helpers/%.o: ALL_CFLAGS += -Itests/helpers

# The tools' shared code (tools/lib), as an archive, so that a test takes
# only what it uses (the JSON-lines reader, the diagrams).
$(B)/libtools.a: $(TOOL_LIB_OBJ)
	@rm -f $@
	$(call say,AR,$@)
	$(Q)ar rcs $@ $^

# Tests link the static library so they can reach internal symbols.
$(INTEROP): $(B)/tests/interop/%: $(B)/tests/interop/%.o $(B)/libustack.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ -lm

$(B)/tests/%: $(B)/tests/%.o $(HELPER_OBJ) $(B)/libtools.a $(B)/libustack.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ -lcriterion -lm

# The story, plus its capture, trace and diagram under demo/.
demo: tools
	@$(B)/bin/ustack-demo --out demo

# The demo's diagram as a picture for the README (Debian: librsvg2-bin).
docs-png: demo
	rsvg-convert -w 900 demo/handshake.svg -o docs/handshake.png

deps:
	@CC="$(CC)" sh tests/deps.sh

# Both variants are built before anything runs, so a compile error fails fast.
check-build:
	$(MAKE) -j$(JOBS) V=release lib tools tests
	$(MAKE) -j$(JOBS) V=asan lib tools tests
	$(MAKE) -j$(JOBS) fuzz-build

check: deps
	@$(MAKE) --no-print-directory check-build
	@sh tests/run.sh $(BUILD_ROOT)/$(CCNAME)-release $(BUILD_ROOT)/$(CCNAME)-asan

# Fuzzing with libFuzzer (clang). `make fuzz FUZZ_TIME=N` runs every target
# (tests/fuzz/fuzz_*.c) for N seconds, growing a corpus under
# build/fuzz/corpus; saved crashes go to build/fuzz/crashes. FUZZ_TARGETS
# picks some ("fuzz_tcp fuzz_udp"). The seeds in tests/fuzz/corpus and the
# regression inputs in tests/fuzz/regress are replayed by make check.
# `make fuzz-seeds` rewrites the generated seed corpora (tests/fuzz/seed/).
# Everything is compiled once with coverage instrumentation and archived,
# so a target links only what it reaches: the stack, the tools' readers
# (tools/lib), the packetdrill parser (tools/drill), the shared harness.
FUZZ_CC ?= clang
FUZZ_B := $(BUILD_ROOT)/fuzz
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_ALL := $(FUZZ_SRC:tests/fuzz/%.c=%)
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZERS := $(FUZZ_ALL:%=$(FUZZ_B)/%)
FUZZ_SAN := address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -std=c11 -D_DEFAULT_SOURCE -g -O1 $(WARN) -Iinclude -Isrc -Itools -Itests/fuzz/lib \
	-fno-omit-frame-pointer -MMD -MP -fsanitize=fuzzer-no-link,$(FUZZ_SAN) -DUSTACK_ASSERT_INVARIANTS
FUZZ_TIME ?= 60
fuzz_objs = $(patsubst %.c,$(FUZZ_B)/obj/%.o,$(sort $(wildcard $(1))))
FUZZ_LIBS := $(FUZZ_B)/libharness.a $(FUZZ_B)/libdrill.a $(FUZZ_B)/libtools.a $(FUZZ_B)/libustack.a

$(FUZZ_B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,FUZZCC,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_B)/libustack.a: $(call fuzz_objs,src/*/*.c)
$(FUZZ_B)/libtools.a: $(call fuzz_objs,tools/lib/*.c)
$(FUZZ_B)/libdrill.a: $(call fuzz_objs,tools/drill/*.c)
$(FUZZ_B)/libharness.a: $(call fuzz_objs,tests/fuzz/lib/*.c)
$(FUZZ_LIBS):
	@rm -f $@
	$(call say,AR,$@)
	$(Q)ar rcs $@ $^

$(FUZZ_B)/fuzz_%: $(FUZZ_B)/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIBS)
	$(call say,FUZZLD,$@)
	$(Q)$(FUZZ_CC) -fsanitize=fuzzer,$(FUZZ_SAN) -o $@ $^

-include $(shell find $(FUZZ_B)/obj -name '*.d' 2>/dev/null)

# The targets' own objects are kept, or each build would recompile them.
.SECONDARY: $(FUZZ_ALL:%=$(FUZZ_B)/obj/tests/fuzz/%.o)

fuzz-build: $(FUZZERS)

# deps first: on a fresh machine clang and its fuzzer runtime come from it.
fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build
	@for n in $(FUZZ_TARGETS); do \
		f=$(FUZZ_B)/$$n; mkdir -p $(FUZZ_B)/corpus/$$n $(FUZZ_B)/crashes; \
		echo "== $$n for $(FUZZ_TIME) s"; \
		$$f -max_total_time=$(FUZZ_TIME) -print_final_stats=1 -artifact_prefix=$(FUZZ_B)/crashes/$$n- \
			$(FUZZ_B)/corpus/$$n $$(ls -d tests/fuzz/corpus/$$n tests/fuzz/regress/$$n 2>/dev/null) \
			2>&1 | grep -E '^(#[0-9]+[[:space:]]+DONE|stat::|==|SUMMARY|.*(ERROR|Crash))' ; \
	done

# The generated seeds (tests/fuzz/seed/): simulator scenarios recorded as
# fuzz_stack programs, captures and traces for the readers, programs for
# the UDP, ICMP and fragment targets; plus the packetdrill scripts and the
# demo's capture and trace, as they are in the repository.
$(B)/tests/fuzz-mkseeds: $(B)/tests/fuzz/seed/mkseeds.o $(B)/libustack.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^

fuzz-seeds: $(B)/tests/fuzz-mkseeds $(B)/bin/ustack-demo
	sh tests/fuzz/seed/seeds.sh $(B)

# The randomized delivery test over many more seeds than make check runs.
SOAK_SEEDS ?= 20000
soak:
	$(MAKE) -j$(JOBS) V=release tests
	USTACK_SEEDS=$(SOAK_SEEDS) $(B)/tests/scenario/test_random

# Benchmarks against Linux (bench/): never part of `make check`. Always the
# release build; BENCH_RUNS=N runs (default 3), BENCH_BYTES shrinks the bulk
# transfer, BENCH_LONG=1 adds a million connections. Results:
# build/bench/results.json; the figures are discussed in bench/RESULTS.md.
BENCH_RB := $(BUILD_ROOT)/$(CCNAME)-release
BENCH_PROGS := bench_ustack bench_linux bench_cg bench_tun bench_csum
.PHONY: bench bench-build
bench-build: $(BENCH_PROGS:%=$(B)/bench/bin/%)
$(B)/bench/bin/bench_ustack $(B)/bench/bin/bench_cg $(B)/bench/bin/bench_tun $(B)/bench/bin/bench_csum: \
		$(B)/bench/bin/%: $(B)/bench/%.o $(B)/bench/link.o \
		$(B)/libustack.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^
$(B)/bench/bin/bench_linux: $(B)/bench/bench_linux.o
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ -lpthread
bench:
	@sh bench/deps.sh
	@$(MAKE) --no-print-directory -j$(JOBS) V=release bench-build
	@python3 bench/run.py --bin $(BENCH_RB)/bench/bin --out $(BUILD_ROOT)/bench/results.json
-include $(patsubst bench/%.c,$(B)/bench/%.d,$(wildcard bench/*.c))

install: lib
	install -d $(DESTDIR)$(PREFIX)/include/ustack $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/ustack/*.h $(DESTDIR)$(PREFIX)/include/ustack/
	install -m 644 $(B)/libustack.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(B)/libustack.so $(DESTDIR)$(PREFIX)/lib/libustack.so.0
	ln -sf libustack.so.0 $(DESTDIR)$(PREFIX)/lib/libustack.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' ustack.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/ustack.pc

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(HELPER_OBJ:.o=.d) $(TOOL_LIB_OBJ:.o=.d) $(DRILL_OBJ:.o=.d) $(TESTS:%=%.d) $(INTEROP:%=%.d) $(TOOLS:$(B)/bin/%=$(B)/tools/%.d)
