"""Fail when an ISA-specific object file defines a weak (COMDAT) symbol
outside its own ISA namespace.

Files such as gemm_avx512.cpp are compiled with -mavx512f. If one of them
instantiates an inline function or template that other files also use
(std::fill, std::vector<float>::resize...), the linker keeps one copy for
the whole library, possibly the AVX-512 one, and a CPU without AVX-512
then crashes in code that was meant to be portable. Code in those files
must live in the ISA's own namespace (nerve::cpu::avx512) or an anonymous
namespace, or be inlined away.

Usage: python tools/check_isa_symbols.py BUILD_DIR
"""
import pathlib
import re
import subprocess
import sys

ISA_FILE = re.compile(r"_(avx2|avx512)\.cpp\.o$")


def offending_symbols(obj, isa):
    out = subprocess.run(["nm", "-C", "--defined-only", str(obj)], capture_output=True, text=True, check=True).stdout
    bad = []
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) != 3 or parts[1] not in ("W", "V", "u"):
            continue
        name = parts[2]
        if name.startswith("DW.ref.") or f"::{isa}::" in name or "(anonymous namespace)" in name:
            continue
        bad.append(name)
    return bad


def main(build_dir):
    objects = [p for p in pathlib.Path(build_dir).rglob("*.o") if ISA_FILE.search(p.name)]
    if not objects:
        print(f"check_isa_symbols: no *_avx2/*_avx512 objects under {build_dir}", file=sys.stderr)
        return 1
    failures = 0
    for obj in sorted(objects):
        isa = ISA_FILE.search(obj.name).group(1)
        for name in offending_symbols(obj, isa):
            print(f"{obj.name}: weak symbol outside namespace '{isa}': {name}")
            failures += 1
    print(f"check_isa_symbols: {len(objects)} objects, {failures} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "build"))
