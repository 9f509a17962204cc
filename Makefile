# nvmeof build.
#
#   make              release build into build/ (-O2 -g): the target, the host tool and
#                     the libraries, with the build dependencies alone
#   make tests        the unit tests as well (they need cmocka, a test-only dependency)
#   make SAN=1        ASan+UBSan build into build-san/
#   make TSAN=1       ThreadSanitizer build into build-tsan/
#   make check        every test: unit, integration, sanitizer, fuzz, interop
#   make run          install dependencies, build the target and the host tool, start the
#                     target on its embedded default (in the foreground)
#
# Sources are picked up by directory, so a new file only needs to be created.

SAN ?= 0
TSAN ?= 0
ifeq ($(SAN)$(TSAN),11)
$(error SAN=1 and TSAN=1 cannot be combined: ASan and TSan exclude each other)
endif
ifeq ($(SAN),1)
BUILD ?= build-san
OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDSAN := -fsanitize=address,undefined
else ifeq ($(TSAN),1)
# The test scripts run it with address-space randomisation off where gcc 12's
# runtime needs that (tsan_setup in tests/lib.sh).
BUILD ?= build-tsan
OPT := -O1 -g -fsanitize=thread -fno-omit-frame-pointer
LDSAN := -fsanitize=thread
else
BUILD ?= build
OPT := -O2 -g
LDSAN :=
endif

CC ?= cc
# `git describe` goes into --version when building from a checkout.
GIT_DESCRIBE := $(shell git describe --always --dirty 2>/dev/null)
VERSION_DEF := $(if $(GIT_DESCRIBE),-DNVMEOF_GIT_DESCRIBE='"$(GIT_DESCRIBE)"')
CFLAGS := -std=c17 -D_GNU_SOURCE $(OPT) $(VERSION_DEF) -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
	-Isrc -Iinclude -MMD -MP -pthread $(EXTRA_CFLAGS)
LDFLAGS := $(LDSAN) -pthread $(EXTRA_LDFLAGS)
LIBS_TARGET := -luring -lisal -ljson-c -lssl -lcrypto -lrbd -lrados
LIBS_HOST := -luring -lisal -ljson-c -lssl -lcrypto -lm
# build/nvmeof alone: `nvmeof attach` serves namespaces through FUSE.
LIBS_HOST_TOOL := -lfuse3

COMMON_SRC := $(wildcard src/common/*.c src/proto/*.c src/crypto/*.c)
TARGET_SRC := $(wildcard src/reactor/*.c src/transport/*.c src/target/*.c src/backend/*.c src/control/*.c)
HOST_SRC := $(wildcard src/host/*.c)
TARGET_MAIN_SRC := $(wildcard src/cli/nvmeof-target/*.c)
HOST_MAIN_SRC := $(wildcard src/cli/nvmeof/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIB_COMMON := $(BUILD)/libnvmeof-common.a
LIB_TARGET := $(BUILD)/libnvmeof-target.a
LIB_HOST := $(BUILD)/libnvmeof-host.a
TARGET_BIN := $(BUILD)/nvmeof-target
HOST_BIN := $(BUILD)/nvmeof
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all tests clean check unit integration interop fuzz run san tsan deps
all: $(TARGET_BIN) $(HOST_BIN) $(LIB_TARGET) $(LIB_HOST) $(LIB_COMMON)

tests: all $(UNIT_BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB_COMMON): $(call obj,$(COMMON_SRC))
	@rm -f $@
	ar rcs $@ $^

$(LIB_TARGET): $(call obj,$(TARGET_SRC))
	@rm -f $@
	ar rcs $@ $^

$(LIB_HOST): $(call obj,$(HOST_SRC))
	@rm -f $@
	ar rcs $@ $^

$(TARGET_BIN): $(call obj,$(TARGET_MAIN_SRC)) $(LIB_TARGET) $(LIB_COMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_TARGET)

$(HOST_BIN): $(call obj,$(HOST_MAIN_SRC)) $(LIB_HOST) $(LIB_COMMON)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS_HOST) $(LIBS_HOST_TOOL)

# Unit tests link against every library; a test may #include a .c file to
# reach its static functions.
$(BUILD)/tests/%: tests/unit/%.c $(LIB_TARGET) $(LIB_HOST) $(LIB_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_TARGET) $(LIB_HOST) $(LIB_COMMON) \
		$(LIBS_HOST) -lrbd -lrados -lcmocka

# One command on a fresh machine: dependencies, build, start the embedded default.
run:
	scripts/install-deps.sh
	$(MAKE) $(TARGET_BIN) $(HOST_BIN)
	./$(TARGET_BIN) $(ARGS)

deps:
	scripts/install-deps.sh --test

unit: $(UNIT_BINS)
	tests/run-unit.sh $(BUILD)

integration: tests
	tests/integration/run.sh $(BUILD)

interop: tests
	tests/interop/run.sh $(BUILD)

fuzz:
	tests/fuzz/run.sh

san:
	$(MAKE) SAN=1 tests

tsan:
	$(MAKE) TSAN=1 tests

check: deps
	tests/run-all.sh

clean:
	rm -rf build build-san build-tsan build-fuzz

# Install the binaries, man pages, systemd unit and Grafana dashboard (DESTDIR for staging).
PREFIX ?= /usr/local
UNITDIR ?= $(PREFIX)/lib/systemd/system
.PHONY: install uninstall
install: $(TARGET_BIN) $(HOST_BIN)
	install -D -m 0755 $(TARGET_BIN) $(DESTDIR)$(PREFIX)/bin/nvmeof-target
	install -D -m 0755 $(HOST_BIN) $(DESTDIR)$(PREFIX)/bin/nvmeof
	install -D -m 0644 docs/man/nvmeof.1 $(DESTDIR)$(PREFIX)/share/man/man1/nvmeof.1
	install -D -m 0644 docs/man/nvmeof-target.8 $(DESTDIR)$(PREFIX)/share/man/man8/nvmeof-target.8
	install -D -m 0644 dist/grafana/nvmeof-dashboard.json \
		$(DESTDIR)$(PREFIX)/share/nvmeof/grafana/nvmeof-dashboard.json
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|/usr/local/bin/|$(PREFIX)/bin/|' dist/nvmeof-target.service \
		>$(DESTDIR)$(UNITDIR)/nvmeof-target.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/nvmeof-target.service

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/nvmeof-target $(DESTDIR)$(PREFIX)/bin/nvmeof \
		$(DESTDIR)$(PREFIX)/share/man/man1/nvmeof.1 \
		$(DESTDIR)$(PREFIX)/share/man/man8/nvmeof-target.8 \
		$(DESTDIR)$(PREFIX)/share/nvmeof/grafana/nvmeof-dashboard.json \
		$(DESTDIR)$(UNITDIR)/nvmeof-target.service

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
