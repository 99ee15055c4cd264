"""Fail when an ISA-specific object file defines a weak (COMDAT) symbol
outside an anonymous namespace or its own ISA namespace.

CMakeLists.txt compiles each kernel family's <family>_impl.h once per ISA,
from generated translation units isa/<isa>/<family>_<isa>.cpp built with that
ISA's flags (-mavx512f...). If one of them instantiates an inline function or
template that other files also use (std::fill, std::vector<float>::resize...),
the linker keeps one copy for the whole library, possibly the AVX-512 one,
and a CPU without AVX-512 then crashes in code that was meant to be portable.
Code in those files must live in an anonymous namespace or the ISA's own
namespace (nerve::cpu::avx512), or be inlined away.

The ISAs come from isa/isas.txt, which CMake writes from its nerve_isa()
lines (baseline first; the baseline is not checked: its code runs anywhere).

Usage: python tools/check_isa_symbols.py BUILD_DIR
"""
import pathlib
import subprocess
import sys


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


def isa_objects(build_dir):
    """(isa, object) for every object built from a generated per-ISA file, baseline excluded."""
    lists = sorted(pathlib.Path(build_dir).rglob("isa/isas.txt"))
    if not lists:
        raise SystemExit(f"check_isa_symbols: no isa/isas.txt under {build_dir} (configure with CMake first)")
    checked, found = [], []
    for isa_list in lists:  # one per CMake build tree
        isas = isa_list.read_text().split()
        checked += [isa for isa in isas[1:] if isa not in checked]
        for isa in isas[1:]:
            found += [(isa, obj) for obj in sorted(isa_list.parent.parent.rglob(f"isa/{isa}/*.o"))]
    return checked, found


def main(build_dir):
    isas, objects = isa_objects(build_dir)
    if not objects:
        print(f"check_isa_symbols: no objects of {', '.join(isas)} under {build_dir}", file=sys.stderr)
        return 1
    failures = 0
    for isa, obj in objects:
        for name in offending_symbols(obj, isa):
            print(f"{obj.parent.name}/{obj.name}: weak symbol outside namespace '{isa}': {name}")
            failures += 1
    print(f"check_isa_symbols: {len(objects)} objects ({', '.join(isas)}), {failures} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "build"))
