# waexport — see README.md. `make` builds ./waexport; `make test` installs
# what is missing, then runs the whole suite in a normal and an
# ASan+UBSan build, the tests of the threaded modules once more under
# ThreadSanitizer, and ends with one "N passed, N failed" line.

CC      ?= cc
PKGS    := libcurl zlib libcrypto xlsxwriter
CFLAGS  ?= -O2 -g
# The program is linked with link-time optimisation (calls between modules
# inlined: about 3% of a convert); the objects also keep ordinary code, so
# the unit tests link against them quickly without it (-fno-lto there).
LTO     := -flto=auto -ffat-lto-objects
WARN    := -Wall -Wextra -Werror -Wshadow -Wconversion -Wno-sign-conversion
STD     := -std=c11 -D_GNU_SOURCE
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LIBS    = $(PKG_LIBS) -lcsv -lpthread -lm

SRC     := $(filter-out src/main.c,$(wildcard src/*.c))
OBJ     := $(SRC:src/%.c=build/obj/%.o)
UNIT    := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))

SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
TSAN_FLAGS := -O1 -g -fsanitize=thread
# The pool and what runs in its workers: their tests again under ThreadSanitizer.
TSAN_UNIT := test_pool test_pipeline test_gz test_manifest test_flush

.PHONY: all deps format test test-deps unit e2e demo bench clean install fuzz man
all: waexport

deps:
	@scripts/deps.sh build

waexport: build/obj/main.o $(OBJ)
	$(CC) $(CFLAGS) $(LTO) -o $@ $^ $(LIBS)

build/obj/%.o: src/%.c $(wildcard src/*.h) | build/obj
	$(CC) $(STD) $(CFLAGS) $(LTO) $(WARN) $(PKG_CFLAGS) -c -o $@ $<

build/obj build/asan build/unit build/asan/unit build/tsan build/tsan/unit:
	@mkdir -p $@

# The sanitizer build: every object again, in its own directory.
build/asan/%.o: src/%.c $(wildcard src/*.h) | build/asan
	$(CC) $(STD) $(SAN_FLAGS) $(WARN) $(PKG_CFLAGS) -c -o $@ $<

build/asan/waexport: build/asan/main.o $(SRC:src/%.c=build/asan/%.o)
	$(CC) $(SAN_FLAGS) -o $@ $^ $(LIBS)

# Unit tests link the modules (not main.c) with cmocka, from the objects'
# ordinary code (-fno-lto: the linker would otherwise optimise every test).
build/unit/%: tests/unit/%.c $(OBJ) | build/unit
	$(CC) $(STD) $(CFLAGS) -fno-lto $(WARN) -Wno-conversion -Isrc $(PKG_CFLAGS) -o $@ $< $(OBJ) $(LIBS) $$(pkg-config --libs cmocka)

build/asan/unit/%: tests/unit/%.c $(SRC:src/%.c=build/asan/%.o) | build/asan/unit
	$(CC) $(STD) $(SAN_FLAGS) $(WARN) -Wno-conversion -Isrc $(PKG_CFLAGS) -o $@ $< $(SRC:src/%.c=build/asan/%.o) $(LIBS) $$(pkg-config --libs cmocka)

# ThreadSanitizer: the same again, for the threaded modules' tests.
build/tsan/%.o: src/%.c $(wildcard src/*.h) | build/tsan
	$(CC) $(STD) $(TSAN_FLAGS) $(WARN) $(PKG_CFLAGS) -c -o $@ $<

# Kept between runs (make would delete them as intermediate files).
.SECONDARY: $(SRC:src/%.c=build/tsan/%.o)

build/tsan/unit/%: tests/unit/%.c $(SRC:src/%.c=build/tsan/%.o) | build/tsan/unit
	$(CC) $(STD) $(TSAN_FLAGS) $(WARN) -Wno-conversion -Isrc $(PKG_CFLAGS) -o $@ $< $(SRC:src/%.c=build/tsan/%.o) $(LIBS) $$(pkg-config --libs cmocka)

test-deps:
	@scripts/deps.sh test

test: test-deps
	@$(MAKE) --no-print-directory waexport build/asan/waexport \
		$(UNIT:%=build/unit/%) $(UNIT:%=build/asan/unit/%) $(TSAN_UNIT:%=build/tsan/unit/%)
	@TSAN_UNIT="$(TSAN_UNIT)" scripts/run_tests.sh $(UNIT)

demo:
	@scripts/deps.sh build
	@$(MAKE) --no-print-directory waexport
	@scripts/demo.sh

bench:
	@scripts/deps.sh build
	@$(MAKE) --no-print-directory waexport
	@scripts/bench.sh

# The man page's OPTIONS sections are rendered from the option table (src/options.c):
# after changing the table, `make man` rewrites them in waexport.1 (a test checks).
man: waexport
	./waexport --help-man > build/man-options.roff
	awk 'FNR == NR { gen = gen $$0 "\n"; next } \
	     /^\.\\" BEGIN OPTIONS/ { printf "%s", gen; skip = 1; next } \
	     skip && /^\.\\" END OPTIONS/ { skip = 0; next } !skip' \
	    build/man-options.roff waexport.1 > build/waexport.1 && cp build/waexport.1 waexport.1

PREFIX  ?= /usr/local
DESTDIR ?=

install: waexport
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 waexport $(DESTDIR)$(PREFIX)/bin/waexport
	install -m 0644 waexport.1 $(DESTDIR)$(PREFIX)/share/man/man1/waexport.1
	install -d $(DESTDIR)$(PREFIX)/share/doc/waexport/examples
	install -m 0644 examples/waexport@.service examples/waexport@.timer \
	    $(DESTDIR)$(PREFIX)/share/doc/waexport/examples/

# Every harness of tests/fuzz/, 600 s in all; FUZZ_HARNESSES="state journal" picks some.
FUZZ_SECONDS ?= 600
FUZZ_HARNESSES ?=
fuzz:
	@scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_HARNESSES)

# Lay the C sources out as .clang-format says (a test checks it).
format:
	clang-format -i src/*.c src/*.h tests/unit/*.c tests/unit/*.h tests/fuzz/*.c

clean:
	rm -rf build waexport out
