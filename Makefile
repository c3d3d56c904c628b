# envpack — a plain Makefile. `make` builds ./envpack; `make check` runs every test.
VERSION  := 0.1.0
PREFIX   ?= /usr/local
DESTDIR  ?=
CC       ?= cc
PKGS     := libarchive libzstd libcrypto libssl libcurl jansson zlib libxml-2.0 yaml-0.1 libvirt libnbd

ifeq ($(SANITIZE),1)
BUILD    := build/asan
OPT      := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
# nbdkit (not built with ASan) loads this build's plugin only with ASan's runtime loaded first
SAN_DEFS := -DEP_SANITIZER_RUNTIME='"$(shell $(CC) -print-file-name=libasan.so)"'
else
BUILD    := build/release
OPT      := -O2 -g
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS   ?=
# -fPIC: the same objects make the nbdkit plugin (a shared object) and the program
CFLAGS   += -std=c11 -D_GNU_SOURCE -DEP_VERSION='"$(VERSION)"' $(OPT) $(SAN_DEFS) -fPIC -Wall -Wextra -Werror \
            -Wshadow -Wstrict-prototypes -Wformat=2 -pthread -I. $(PKG_CFLAGS) -MMD -MP
LDFLAGS  += $(filter -fsanitize=%,$(OPT)) -pthread
LDLIBS   += $(PKG_LIBS)

# The library: every module but the command line, layer by layer (ARCHITECTURE.md).
PLUGIN_SRC := serve/nbdkit_plugin.c
LIB_SRC  := $(filter-out $(PLUGIN_SRC),$(wildcard base/*.c cloud/*.c formats/*/*.c sources/*.c packer/*.c verify/*.c \
            serve/*.c targets/*.c drill/*.c))
CLI_SRC  := $(wildcard cli/*.c)
UNIT_SRC := $(wildcard tests/unit/*.c)
TOOL_SRC := tests/tools/sigv4-sign.c tests/tools/drill-put.c
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/%.o)
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/%.o)
BIN      := $(if $(filter 1,$(SANITIZE)),$(BUILD)/envpack,envpack)
# envpack serve's nbdkit plugin: beside the program in the build tree, in lib/envpack installed
PLUGIN   := $(BUILD)/nbdkit-envpack-plugin.so
PLUGIN_DIR := $(PREFIX)/lib/envpack

.PHONY: all deps check unit asan demo install uninstall fuzz clean lint
all: $(BIN) $(PLUGIN)

$(BIN): $(LIB_OBJ) $(CLI_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(PLUGIN): $(LIB_OBJ) $(PLUGIN_SRC:%.c=$(BUILD)/%.o)
	$(CC) $(LDFLAGS) -shared -o $@ $^ $(LDLIBS)

$(BUILD)/unit-tests: $(LIB_OBJ) $(UNIT_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Test tools the scripts in tests/cases/ run; never installed.
$(BUILD)/sigv4-sign: $(LIB_OBJ) $(BUILD)/tests/tools/sigv4-sign.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/drill-put: $(LIB_OBJ) $(BUILD)/tests/tools/drill-put.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

deps:
	@scripts/deps.sh

# Every test: C unit tests, then the command-line scripts in tests/cases/, then the fuzz replay.
check: deps
	@$(MAKE) --no-print-directory $(BIN) $(PLUGIN) $(BUILD)/unit-tests $(BUILD)/sigv4-sign $(BUILD)/drill-put
	@ENVPACK=$(abspath $(BIN)) UNIT_TESTS=$(abspath $(BUILD)/unit-tests) BUILD=$(abspath $(BUILD)) \
		SIGV4_SIGN=$(abspath $(BUILD)/sigv4-sign) DRILL_PUT=$(abspath $(BUILD)/drill-put) \
		FUZZ_SECONDS=$(FUZZ_SECONDS) tests/run.sh

asan:
	@$(MAKE) --no-print-directory SANITIZE=1 check

# Banned calls (strcpy, strcat, sprintf, vsprintf, strtok, atoi) and the include rule of
# ARCHITECTURE.md; `make check` runs them as tests/cases/t00-lint.sh and t01-layers.sh.
lint:
	@scripts/lint.sh
	@python3 scripts/layers.py

unit: $(BUILD)/unit-tests
	$(BUILD)/unit-tests

demo: deps
	@$(MAKE) --no-print-directory $(BIN)
	@ENVPACK=$(abspath $(BIN)) samples/demo.sh

install: $(BIN) $(PLUGIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PLUGIN_DIR)
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/envpack
	install -m 0644 $(PLUGIN) $(DESTDIR)$(PLUGIN_DIR)/nbdkit-envpack-plugin.so
	install -m 0644 man/envpack.1 $(DESTDIR)$(PREFIX)/share/man/man1/envpack.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/envpack $(DESTDIR)$(PREFIX)/share/man/man1/envpack.1 \
		$(DESTDIR)$(PLUGIN_DIR)/nbdkit-envpack-plugin.so

# libFuzzer targets (clang): the library is built once with the fuzzer's
# instrumentation, then linked into each tests/fuzz/fuzz_*.c.
FUZZ_CC    := clang
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -DEP_VERSION='"$(VERSION)"' -g -O1 -I. $(PKG_CFLAGS) -pthread \
              -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_OBJ   := $(LIB_SRC:%.c=build/fuzz/obj/%.o)
FUZZ_BIN   := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
fuzz: $(FUZZ_BIN)
build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/disk_reader.h tests/fuzz/image_mem.h tests/fuzz/inventory_check.h $(FUZZ_OBJ)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(PKG_LIBS)

clean:
	rm -rf build envpack

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(UNIT_OBJ:.o=.d) $(TOOL_OBJ:.o=.d)
