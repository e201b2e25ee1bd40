#!/usr/bin/env bash
# The C layer without x86 intrinsics, for aarch64: builds
# tests/portable/stream_check.c (which includes pyx/philox.h, simd.h, half.h,
# bits.h, omp_compat.h) natively (as is and with -DCYDROP_NO_SIMD) and with
# Debian's aarch64 cross compiler (static, -O2 and -O3), runs the aarch64
# builds under qemu-aarch64, and diffs every output against
# tests/portable/expected.py (cydrop.stream_words, checked there against the
# plain-Python Philox of tests/_reference.py).  Exits non-zero on any
# difference, any build failure or any internal mismatch.
#
# Needs: gcc, aarch64-linux-gnu-gcc and qemu-aarch64
#   (apt-get install -y gcc-aarch64-linux-gnu qemu-user), and a Python with
#   cydrop installed.  Without the cross compiler or qemu it prints SKIPPED
#   and exits 0, unless CYDROP_REQUIRE_CROSS=1 (CI), where that is a failure.
# Environment: CC (native compiler, default gcc), CROSS_CC (default
#   aarch64-linux-gnu-gcc), QEMU (default qemu-aarch64), PYTHON (default
#   python, else python3).
set -euo pipefail
START=$SECONDS
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CC="${CC:-gcc}"
CROSS_CC="${CROSS_CC:-aarch64-linux-gnu-gcc}"
QEMU="${QEMU:-qemu-aarch64}"
if [[ -z "${PYTHON:-}" ]]; then
  if command -v python >/dev/null 2>&1; then PYTHON=python; else PYTHON=python3; fi
fi

missing=()
for tool in "$CC" "$CROSS_CC" "$QEMU"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ "${CYDROP_REQUIRE_CROSS:-0}" == 1 ]]; then
    echo "FAILED: missing ${missing[*]} (CYDROP_REQUIRE_CROSS=1);" \
         "install with: apt-get install -y gcc-aarch64-linux-gnu qemu-user" >&2
    exit 1
  fi
  echo "SKIPPED: aarch64 cross check: missing ${missing[*]}" \
       "(apt-get install -y gcc-aarch64-linux-gnu qemu-user; CYDROP_REQUIRE_CROSS=1 makes this a failure)"
  exit 0
fi

echo "native compiler: $("$CC" --version | head -n 1) ($(uname -m))"
echo "cross compiler:  $("$CROSS_CC" --version | head -n 1)"
echo "emulator:        $("$QEMU" --version | head -n 1)"
echo "python:          $("$PYTHON" -c 'import sys, numpy, cydrop; print(sys.version.split()[0], "numpy", numpy.__version__, "cydrop", getattr(cydrop, "__version__", "?"))')"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
SRC="$HERE/stream_check.c"
CFLAGS=(-std=c99 -Wall -Wextra -I "$REPO/pyx")

fail=0
"$PYTHON" "$HERE/expected.py" > "$WORK/expected.txt"
echo "expected: $(wc -l < "$WORK/expected.txt") lines from tests/portable/expected.py"

# name, how to run it ("" native or "$QEMU"), compiler, flags...
check_build() {
  local name="$1" runner="$2" cc="$3"
  shift 3
  local exe="$WORK/$name" rc=0
  if ! "$cc" "${CFLAGS[@]}" "$@" "$SRC" -o "$exe" 2> "$WORK/$name.cc.log"; then
    echo "FAIL $name: build failed:"
    cat "$WORK/$name.cc.log"
    fail=1
    return
  fi
  if [[ -s "$WORK/$name.cc.log" ]]; then
    echo "warnings from $name:"
    cat "$WORK/$name.cc.log"
  fi
  if [[ -n "$runner" ]]; then
    "$runner" "$exe" > "$WORK/$name.out" 2> "$WORK/$name.err" || rc=$?
  else
    "$exe" > "$WORK/$name.out" 2> "$WORK/$name.err" || rc=$?
  fi
  sed "s/^/  [$name] /" "$WORK/$name.err"
  if [[ $rc -ne 0 ]]; then
    echo "FAIL $name: exit status $rc"
    fail=1
  fi
  if diff -u "$WORK/expected.txt" "$WORK/$name.out" > "$WORK/$name.diff"; then
    echo "ok   $name: output equals expected.py's ($(wc -l < "$WORK/$name.out") lines)"
  else
    echo "FAIL $name: output differs from expected.py's (first lines of the diff):"
    head -n 40 "$WORK/$name.diff"
    fail=1
  fi
}

check_build native-O2 "" "$CC" -O2
check_build native-O2-no-simd "" "$CC" -O2 -DCYDROP_NO_SIMD
check_build aarch64-O2 "$QEMU" "$CROSS_CC" -O2 -static
check_build aarch64-O3 "$QEMU" "$CROSS_CC" -O3 -static

if [[ -f "$WORK/native-O2.out" && -f "$WORK/aarch64-O2.out" ]] \
   && ! cmp -s "$WORK/native-O2.out" "$WORK/aarch64-O2.out"; then
  echo "FAIL: aarch64 output differs from native output"
  fail=1
fi

echo "time: $((SECONDS - START))s"
if [[ $fail -ne 0 ]]; then
  echo "aarch64 stream words equal x86: FAILED"
  exit 1
fi
echo "aarch64 stream words equal x86: OK"
