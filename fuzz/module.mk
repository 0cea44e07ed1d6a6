# fuzz/: libFuzzer targets.  Each also links to fuzz/replay_main.c so the
# committed corpus (fuzz/corpus/<name>/) is replayed by `make check`.
FUZZ += cfg
fuzz_cfg_OBJS := fuzz/fuzz_cfg.o

