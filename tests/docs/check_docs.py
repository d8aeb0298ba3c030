#!/usr/bin/env python3
"""The repository stands alone: every relative link in README.md and docs/ resolves to a file inside the
repository, and no tracked file names an absolute path outside it (a developer's checkout, a home folder,
a shared folder beside the clone).

    check_docs.py REPO_ROOT

Absolute paths under the system folders that the project's own scripts install into or that every Linux
has (/usr, /etc, /proc, /tmp, ...) are fine: they are where Debian puts Fashion-MNIST, CUDA, Kokkos's CMake
files. Anything else (/work/..., /home/..., /scratch/...) exists only on someone's machine. Exits 1 naming
every offending file:line.
"""
import re
import subprocess
import sys
from pathlib import Path

SYSTEM_ROOTS = {"usr", "etc", "proc", "dev", "sys", "run", "bin", "sbin", "lib", "lib64", "opt", "tmp", "var"}
# Not file-system paths: the groups of the project's HDF5 files (/params/..., h5ls's notation), the
# placeholder of examples (/path/to/...), and the missing files that error tests open (/nonexistent/...).
OTHER_ROOTS = {"params", "buffers", "metrics", "optim", "ema", "disc", "rng", "path", "nonexistent"}
# A path that starts at "/" with at least two components: not inside a word, a URL, a relative path, a shell
# expansion ("$dir"/x, ${p%/x}, */x) or a string appended to another (root + "/x", dir << "/x", "$d"/x).
ABSOLUTE = re.compile(r"(?:(?<![\w.:/~$}\-\\*%>\"'])|(?<=[\s(=\[]\")|(?<=^\")|(?<=[\s(=\[]')|(?<=^'))"
                      r"/([A-Za-z_][\w.\-]*)/[\w.\-]")
# The shared folder beside a developer's clone, and the documents it holds.
SIBLING = re.compile(r"\.\./shared\b|\b(?:ibq-spec|platform-notes|style-anchors|DESIGN)\.md\b")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|<img[^>]*\ssrc=\"([^\"]+)\"")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.\-]*:|#)", re.I)


def tracked_text_files(root):
    out = subprocess.run(["git", "-C", str(root), "ls-files", "-z"], capture_output=True, check=True).stdout
    for name in out.decode().split("\0"):
        path = root / name
        if not name or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary: PNGs, HDF5 fixtures
        yield name, data.decode("utf-8", errors="replace")


# In C++ and shell only comments are read: their code builds paths at run time (root + "/a/x.png") and
# names HDF5 objects ("/data/half"); every other text file (Markdown, INI, JSON, YAML, Python) is read whole.
COMMENT_ONLY = {".cpp": "//", ".hpp": "//", ".sh": "#", ".sbatch": "#"}


def outside_paths(root):
    bad = []
    for name, text in tracked_text_files(root):
        if name == "tests/docs/check_docs.py" or name.startswith(".ci/"):
            continue  # names the patterns it looks for; CI builds the Kokkos 4 tarball of the shared folder
        marker = COMMENT_ONLY.get(Path(name).suffix)
        for lineno, line in enumerate(text.splitlines(), 1):
            if SIBLING.search(line):
                bad.append(f"{name}:{lineno}: names the shared folder beside the clone or one of its documents: {line.strip()}")
            if marker and marker not in line:
                continue
            scan = line[line.index(marker):] if marker else line
            for m in ABSOLUTE.finditer(scan):
                if m.group(1) not in SYSTEM_ROOTS | OTHER_ROOTS:
                    bad.append(f"{name}:{lineno}: absolute path outside the repository "
                               f"'{m.group(0)}...': {line.strip()}")
    return bad


def broken_links(root):
    bad, checked = [], 0
    pages = [root / "README.md"] + sorted((root / "docs").rglob("*.md"))
    for page in pages:
        if not page.is_file():
            bad.append(f"{page.relative_to(root)}: missing")
            continue
        in_code = False
        for lineno, line in enumerate(page.read_text().splitlines(), 1):
            if line.lstrip().startswith("```"):
                in_code = not in_code
            if in_code:
                continue
            for m in LINK.finditer(line):
                target = m.group(1) or m.group(2)
                if EXTERNAL.match(target):
                    continue
                checked += 1
                path = (page.parent / target.split("#", 1)[0]).resolve()
                where = f"{page.relative_to(root)}:{lineno}: link '{target}'"
                if root.resolve() not in path.parents and path != root.resolve():
                    bad.append(f"{where} leaves the repository")
                elif not path.exists():
                    bad.append(f"{where} does not resolve")
    return bad, checked


def main():
    root = Path(sys.argv[1]).resolve()
    links, checked = broken_links(root)
    paths = outside_paths(root)
    for line in links + paths:
        print("FAIL:", line)
    if checked == 0:
        print("FAIL: no relative link found in README.md and docs/ (the link check checked nothing)")
        return 1
    if links or paths:
        return 1
    print(f"ok: {checked} relative links in README.md and docs/ resolve; no file names a path outside the repository")
    return 0


if __name__ == "__main__":
    sys.exit(main())
