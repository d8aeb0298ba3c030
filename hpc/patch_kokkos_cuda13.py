#!/usr/bin/env python3
"""Patch a Kokkos 3.4.1 source tree (Debian's trilinos packages/kokkos) so that it builds with CUDA 13 for
Hopper (sm_90).

    python3 hpc/patch_kokkos_cuda13.py <kokkos-source-dir>

Kokkos 3.4.1 predates both CUDA 13 and Hopper. The four fixes below are the minimal set that lets
`-DKokkos_ENABLE_CUDA=ON -DKokkos_ARCH_HOPPER90=ON` configure and compile with nvcc 13 (docs/building.md
says when they are needed). Each fix is applied only if its "done" marker
is absent, so running the script twice is harmless; if neither the original pattern nor the patched
form is found, the script stops with an error naming the file and the fix (a different Kokkos version
needs a human to look, not a silent half-patched tree). Files are only written once all of their fixes
have matched.
"""
import re
import sys
from pathlib import Path

MARK = "ibq-cuda13"  # appears in every inserted comment: lets a reader (and the script) spot patched code


class PatchError(RuntimeError):
    pass


def replace_once(text, old, new, what):
    n = text.count(old)
    if n != 1:
        raise PatchError(f"{what}: expected exactly one occurrence of {old!r}, found {n}")
    return text.replace(old, new)


# ----------------------------------------------------------------------------------------------------------
# (1) core/src/Cuda/Kokkos_Cuda_Half.hpp
# For CUDA >= 11.1 Kokkos 3.4 takes the "CUDA 11.1 versions" branch, whose cast_from_half<T>() hands a
# Kokkos::Experimental::half_t straight to the cuda_fp16 intrinsics (__half2float, __half2int_rz, ...).
# Those take a `__half`, and half_t's conversion to __half is `explicit`, so CUDA 13's stricter headers
# reject the call ("no suitable conversion function from half_t to __half"). Wrap the argument in
# `__half(val)` (an explicit conversion, which picks half_t::operator impl_type()). The same branch also
# calls `__half2double`, which CUDA 13's cuda_fp16.h does not declare at all:
# `(double)__half2float(x)` is exact (every half is representable as a float).
def fix_half(text):
    what = "Kokkos_Cuda_Half.hpp (half_t -> __half in the CUDA >= 11.1 cast_from_half branch)"
    if f"{MARK}: half_t" in text:
        return text, False
    sep = "#else  // CUDA 11.1 versions follow"
    if text.count(sep) != 1:
        raise PatchError(f"{what}: marker line {sep!r} not found exactly once")
    head, tail = text.split(sep)
    tail, n_args = re.subn(r"\b(__half2\w+)\(val\)", r"\1(__half(val))", tail)
    # cuda 11.1 branch: float, double, short, ushort, int, uint, ll, ull
    if n_args != 8:
        raise PatchError(f"{what}: expected 8 calls of the form __half2*(val), found {n_args}")
    tail = replace_once(tail, "return __half2double(__half(val));",
                        "return (double)__half2float(__half(val));", what)
    note = (f"\n// {MARK}: half_t -> __half made explicit and __half2double replaced by (double)__half2float\n"
            "// below: CUDA 13 rejects the implicit half_t argument and has no __half2double.")
    return head + sep + note + tail, True


# (1b) Same branch: half_t's `explicit half_t(bool)` and `explicit operator bool()` call cast_to_half(bool)
# and cast_from_half<bool>, which the CUDA < 11.1 branch defines but the CUDA >= 11.1 branch forgot.
# nvcc/g++ then warn "inline function ... used but never defined" (4 warnings in every translation unit
# that includes Kokkos_Core.hpp, consumers included) and any real use would fail to link. Add the two
# definitions exactly as the CUDA < 11.1 branch has them (go through float).
HALF_BOOL_TO = """KOKKOS_INLINE_FUNCTION
half_t cast_to_half(float val) { return __float2half(val); }
"""
HALF_BOOL_FROM = """template <class T>
KOKKOS_INLINE_FUNCTION std::enable_if_t<std::is_same<T, float>::value, T>
cast_from_half(half_t val) {
  return __half2float(__half(val));
}
"""


def fix_half_bool(text):
    what = "Kokkos_Cuda_Half.hpp (bool casts missing from the CUDA >= 11.1 branch)"
    if f"{MARK}: bool casts" in text:
        return text, False
    sep = "#else  // CUDA 11.1 versions follow"
    head, tail = text.split(sep)  # fix_half already checked that sep occurs once
    tail = replace_once(tail, HALF_BOOL_TO, HALF_BOOL_TO +
                        f"// {MARK}: bool casts, as in the CUDA < 11.1 branch (declared above, never defined here)\n"
                        "KOKKOS_INLINE_FUNCTION\n"
                        "half_t cast_to_half(bool val) { return cast_to_half(static_cast<float>(val)); }\n", what)
    tail = replace_once(tail, HALF_BOOL_FROM, HALF_BOOL_FROM +
                        "template <class T>\n"
                        "KOKKOS_INLINE_FUNCTION std::enable_if_t<std::is_same<T, bool>::value, T>\n"
                        "cast_from_half(half_t val) {\n"
                        "  return static_cast<T>(cast_from_half<float>(val));\n"
                        "}\n", what)
    return head + sep + tail, True


# ----------------------------------------------------------------------------------------------------------
# (2) core/src/Cuda/Kokkos_CudaSpace.cpp
# CUDA 13 changed cudaMemPrefetchAsync(ptr, bytes, int device, stream) to
# cudaMemPrefetchAsync(ptr, bytes, cudaMemLocation location, unsigned flags, stream); the old 4-argument
# call no longer compiles. Keep the old call for CUDA < 13 so the same tree still builds with CUDA 11/12.
PREFETCH_OLD = """    CUDA_SAFE_CALL(cudaMemPrefetchAsync(ptr, bytes, space.cuda_device(),
                                        space.cuda_stream()));
"""
PREFETCH_NEW = f"""    // {MARK}: CUDA 13 takes a cudaMemLocation and flags instead of a device id.
#if defined(CUDART_VERSION) && (CUDART_VERSION >= 13000)
    cudaMemLocation loc{{}};
    loc.type = cudaMemLocationTypeDevice;
    loc.id   = space.cuda_device();
    CUDA_SAFE_CALL(
        cudaMemPrefetchAsync(ptr, bytes, loc, 0u, space.cuda_stream()));
#else
    CUDA_SAFE_CALL(cudaMemPrefetchAsync(ptr, bytes, space.cuda_device(),
                                        space.cuda_stream()));
#endif
"""


def fix_prefetch(text):
    if f"{MARK}: CUDA 13 takes a cudaMemLocation" in text:
        return text, False
    return replace_once(text, PREFETCH_OLD, PREFETCH_NEW, "Kokkos_CudaSpace.cpp (cudaMemPrefetchAsync)"), True


# ----------------------------------------------------------------------------------------------------------
# (3) Hopper. Kokkos 3.4 stops at AMPERE86; an AMPERE80 build aborts at start-up on an H100 (its
# arch check refuses a device newer than the compiled one). Add HOPPER90 -> sm_90 the way AMPERE80 is done:
#   - KOKKOS_ARCH_OPTION(HOPPER90 ...) makes -DKokkos_ARCH_HOPPER90=ON a known option;
#   - CHECK_CUDA_ARCH(HOPPER90 sm_90) appends -arch=sm_90 to KOKKOS_CUDA_OPTIONS (compile flags) and, for
#     nvcc/nvcc_wrapper or relocatable device code, to KOKKOS_LINK_OPTIONS (link flags); both travel to
#     consumers via the exported Kokkos::kokkos target;
#   - KOKKOS_ARCH_HOPPER (family name, like KOKKOS_ARCH_AMPERE) and the KOKKOS_ARCH_HOPPER90 /
#     KOKKOS_ARCH_HOPPER defines in KokkosCore_config.h.
def fix_arch_cmake(text):
    what = "cmake/kokkos_arch.cmake (HOPPER90)"
    if "HOPPER90" in text:
        return text, False
    text = replace_once(
        text,
        'KOKKOS_ARCH_OPTION(AMPERE86        GPU  "NVIDIA Ampere generation CC 8.6")\n',
        'KOKKOS_ARCH_OPTION(AMPERE86        GPU  "NVIDIA Ampere generation CC 8.6")\n'
        f'# {MARK}: Hopper (H100/H200) is not known to Kokkos 3.4\n'
        'KOKKOS_ARCH_OPTION(HOPPER90        GPU  "NVIDIA Hopper generation CC 9.0")\n',
        what)
    text = replace_once(
        text,
        "CHECK_CUDA_ARCH(AMPERE86  sm_86)\n",
        f"CHECK_CUDA_ARCH(AMPERE86  sm_86)\nCHECK_CUDA_ARCH(HOPPER90  sm_90)  # {MARK}\n",
        what)
    text = replace_once(
        text,
        "  IF (KOKKOS_ARCH_AMPERE80 OR KOKKOS_ARCH_AMPERE86)\n    SET(KOKKOS_ARCH_AMPERE ON)\n  ENDIF()\n",
        "  IF (KOKKOS_ARCH_AMPERE80 OR KOKKOS_ARCH_AMPERE86)\n    SET(KOKKOS_ARCH_AMPERE ON)\n  ENDIF()\n\n"
        f"  IF (KOKKOS_ARCH_HOPPER90)  # {MARK}\n    SET(KOKKOS_ARCH_HOPPER ON)\n  ENDIF()\n",
        what)
    return text, True


def fix_config_h(text):
    if "KOKKOS_ARCH_HOPPER90" in text:
        return text, False
    return replace_once(
        text,
        "#cmakedefine KOKKOS_ARCH_AMPERE86\n",
        "#cmakedefine KOKKOS_ARCH_AMPERE86\n"
        f"/* {MARK}: Hopper (sm_90) */\n#cmakedefine KOKKOS_ARCH_HOPPER\n#cmakedefine KOKKOS_ARCH_HOPPER90\n",
        "cmake/KokkosCore_config.h.in (HOPPER90)"), True


# ----------------------------------------------------------------------------------------------------------
# (4) bin/nvcc_wrapper adds -arch=sm_35 whenever the command line has no -arch. CMake's compiler checks
# (and any consumer that forgets the arch) hit that default, and nvcc 13 only supports sm_75 and newer,
# so configuring fails with "Unsupported gpu architecture 'compute_35'". Default to the Hopper target
# this tree is built for.
def fix_nvcc_wrapper(text):
    if f"{MARK}" in text:
        return text, False
    return replace_once(
        text,
        'default_arch="sm_35"\n',
        f'# {MARK}: nvcc 13 rejects sm_35 (its minimum is sm_75); default to Hopper, the arch we build for.\n'
        'default_arch="sm_90"\n',
        "bin/nvcc_wrapper (default_arch)"), True


FIXES = [
    ("core/src/Cuda/Kokkos_Cuda_Half.hpp", [fix_half, fix_half_bool]),  # order matters
    ("core/src/Cuda/Kokkos_CudaSpace.cpp", [fix_prefetch]),
    ("cmake/kokkos_arch.cmake", [fix_arch_cmake]),
    ("cmake/KokkosCore_config.h.in", [fix_config_h]),
    ("bin/nvcc_wrapper", [fix_nvcc_wrapper]),
]


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} <kokkos-source-dir>", file=sys.stderr)
        return 2
    root = Path(argv[1])
    if not (root / "CMakeLists.txt").is_file():
        print(f"patch_kokkos_cuda13: {root} is not a Kokkos source tree (no CMakeLists.txt)", file=sys.stderr)
        return 1
    try:
        pending = []
        for rel, fixes in FIXES:
            path = root / rel
            if not path.is_file():
                raise PatchError(f"{rel}: file not found in {root}")
            text = orig = path.read_text()
            for fix in fixes:
                text, changed = fix(text)
                print(f"patch_kokkos_cuda13: {rel}: {fix.__name__}: {'applying' if changed else 'already applied'}")
            if text != orig:
                pending.append((path, text))
    except PatchError as e:
        print(f"patch_kokkos_cuda13: ERROR: {e} (unexpected Kokkos version? nothing was written)", file=sys.stderr)
        return 1
    for path, text in pending:  # write only after every fix matched, so a failure leaves the tree untouched
        mode = path.stat().st_mode
        path.write_text(text)
        path.chmod(mode)
    print(f"patch_kokkos_cuda13: {len(pending)} file(s) written in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
