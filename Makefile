# ustack: GNU Make build.
#
#   make              libraries and tools (build/<cc>-release)
#   make demo         the article's story on the simulator
#   make check        install test dependencies (as root), build, run every
#                     suite plain and under ASan+UBSan, print the totals
#   make install PREFIX=/usr/local
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
HELPER_SRC := $(sort $(wildcard tests/helpers/*.c))
HELPER_OBJ := $(HELPER_SRC:%.c=$(B)/%.o)
TEST_SRC := $(sort $(wildcard tests/unit/*.c tests/scenario/*.c))
TESTS := $(TEST_SRC:tests/%.c=$(B)/tests/%)

.PHONY: all lib tools tests check check-build demo install clean deps soak

all: lib tools

lib: $(B)/libustack.a $(B)/libustack.so
tools: $(TOOLS)
tests: $(TESTS)

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

$(B)/tests/%.o: ALL_CFLAGS += -Itests/helpers
$(B)/tests/helpers/%.o: ALL_CFLAGS += -Itests/helpers

# Tests link the static library so they can reach internal symbols.
$(B)/tests/%: $(B)/tests/%.o $(HELPER_OBJ) $(B)/libustack.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ -lcriterion -lm

demo: tools
	@$(B)/bin/ustack-demo

deps:
	@CC="$(CC)" sh tests/deps.sh

# Both variants are built before anything runs, so a compile error fails fast.
check-build:
	$(MAKE) -j$(JOBS) V=release lib tools tests
	$(MAKE) -j$(JOBS) V=asan lib tools tests

check: deps
	@$(MAKE) --no-print-directory check-build
	@sh tests/run.sh $(BUILD_ROOT)/$(CCNAME)-release $(BUILD_ROOT)/$(CCNAME)-asan

# The randomized delivery test over many more seeds than make check runs.
SOAK_SEEDS ?= 20000
soak:
	$(MAKE) -j$(JOBS) V=release tests
	USTACK_SEEDS=$(SOAK_SEEDS) $(B)/tests/scenario/test_random

install: lib
	install -d $(DESTDIR)$(PREFIX)/include/ustack $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/ustack/*.h $(DESTDIR)$(PREFIX)/include/ustack/
	install -m 644 $(B)/libustack.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(B)/libustack.so $(DESTDIR)$(PREFIX)/lib/libustack.so.0
	ln -sf libustack.so.0 $(DESTDIR)$(PREFIX)/lib/libustack.so
	sed -e 's|@PREFIX@|$(PREFIX)|g' ustack.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/ustack.pc

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(HELPER_OBJ:.o=.d) $(TOOL_LIB_OBJ:.o=.d) $(TESTS:%=%.d) $(TOOLS:$(B)/bin/%=$(B)/tools/%.d)
