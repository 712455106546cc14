# hikscan — `make run` analyses the bundled captures; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint type fmt fuzz fuzz-c bench bench-live bench-scan corpus captures geodb man constraints clean

$(STAMP): pyproject.toml constraints.txt setup.py hikscan/passive/_fastloop.c
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/hikscan analyze pcaps/ --fail-on none

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check hikscan tests bench scripts pcaps
	$(VENV)/bin/ruff format --check hikscan tests bench scripts pcaps
	$(VENV)/bin/mypy hikscan

type: $(STAMP)
	$(VENV)/bin/mypy hikscan

fmt: $(STAMP)
	$(VENV)/bin/ruff format hikscan tests bench scripts pcaps
	$(VENV)/bin/ruff check --fix hikscan tests bench scripts pcaps

# The long property-test run over every parser and the capture path (~13 min; docs/FUZZING.md).
fuzz: $(STAMP)
	HYPOTHESIS_MAX_EXAMPLES=20000 $(PY) -m pytest -q tests/test_fuzz_capture.py tests/test_fuzz_protocols.py

# The C hot loop (hikscan/passive/_fastloop.c) built with AddressSanitizer + UBSan and put through its
# differential and fuzz tests against the Python loop (docs/FUZZING.md). Needs gcc and libasan/libubsan.
CC ?= gcc
ASAN_SO := build/asan/_fastloop.so
FUZZ_C_EXAMPLES ?= 2000
fuzz-c: $(STAMP)
	mkdir -p build/asan
	$(CC) -shared -fPIC -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
		-fno-sanitize-recover=undefined -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
		-I"$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("include"))')" \
		hikscan/passive/_fastloop.c -o $(ASAN_SO)
	LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
		ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		PYTHONMALLOC=malloc HIKSCAN_FASTLOOP_SO=$(ASAN_SO) HYPOTHESIS_MAX_EXAMPLES=$(FUZZ_C_EXAMPLES) \
		$(PY) -X dev -m pytest -q -p no:cacheprovider --capture=sys tests/passive/test_fastloop.py

# hikscan analyze vs tshark, tcpdump and Suricata on generated captures: LAN 1M, many-findings 1M/3M/10M, two on two cores,
# many-hosts, and many-findings 1M as a trunk port's pcapng (802.1Q tags, as dumpcap writes).
# An installed package has its bytecode; an editable one whose shell sets PYTHONDONTWRITEBYTECODE would
# compile every module on every run (~0.2 s), which no user pays: compile once before timing.
# The 1M-packet tables are medians of three runs per tool (figures vary ±20% run to run).
bench: $(STAMP)
	$(PY) -m compileall -q hikscan
	$(PY) bench/bench_analyze.py --packets 1000000 --repeat 3
	$(PY) bench/bench_analyze.py --profile many-findings --packets 1000000 --repeat 3 \
		--big 3000000 --big 10000000 --two-captures
	$(PY) bench/bench_analyze.py --profile many-hosts --packets 1300000 --skip-tshark
	$(PY) bench/bench_analyze.py --profile many-findings --packets 1000000 --repeat 3 --vlan 10 --pcapng
	$(PY) bench/bench_analyze.py --profile many-findings --packets 1000000 --repeat 3 --link sll

# watch's highest zero-drop rate and its kernel drop counter above it: tcpreplay into namespaces (root).
bench-live: $(STAMP)
	$(PY) bench/bench_live.py

# hikscan scan vs nmap -sV against a lab of 100 emulated devices in network namespaces (root).
bench-scan: $(STAMP)
	$(PY) bench/bench_scan.py

corpus: $(STAMP)
	$(PY) scripts/make_corpus.py

captures: $(STAMP)
	$(PY) pcaps/generate.py

geodb: $(STAMP)
	$(PY) -m pip install -q -e '.[build-data]'
	$(PY) scripts/build_geodb.py

# docs/hikscan.1 from the command line's own help (tests/cli check it is current).
man: $(STAMP)
	$(PY) scripts/make_man.py docs/hikscan.1

# constraints.txt: the versions a clean venv resolves today for '.[dev]' (review the diff, commit it).
constraints:
	rm -rf build/constraints-venv
	$(PYTHON) -m venv build/constraints-venv
	build/constraints-venv/bin/pip install -q --upgrade pip
	build/constraints-venv/bin/pip install -q '.[dev]'
	{ sed -n '1,2p' constraints.txt; build/constraints-venv/bin/pip freeze --exclude hikscan; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf build/constraints-venv

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
