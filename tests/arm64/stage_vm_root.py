#!/usr/bin/env python3
"""Stages the meson tests of an aarch64 build into the root tree of the
arm64 test VM (used by tests/arm64/run).

usage: stage_vm_root.py BUILDDIR ROOT [--python DIR] [--gdb DIR] [--suite NAME]... [TESTNAME]...

Every file a test needs keeps its absolute host path inside the VM (the test
executable, arguments and environment values that name files of the build or
source tree, the targets it depends on), so commands, environment and working
directories run unchanged. Shared libraries named by DT_NEEDED, followed
recursively with readelf -d, go to /lib unless they belong to the build tree.
A test run by the host's python3 (the end-to-end tests) runs on the VM's
/usr/bin/python3 instead: --python names an unpacked Debian arm64 Python 3.11
(tests/arm64/fetch-vm-files), whose interpreter, standard library and the
extension modules whose libraries are at hand are staged.
--gdb names an unpacked gdb-minimal for arm64 with the libraries it needs
(also tests/arm64/fetch-vm-files); it is staged as /usr/bin/gdb when a
selected test is in the meson suite `needs-gdb`.
Writes ROOT/probed-tests/: `list` (index, timeout in seconds or 0 for none,
name per line) and one `N.sh` per test that sets up and execs the test.
meson 1.0's introspection does not say which tests are should_fail: such
tests would count as failed here (the project has none).
"""
import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys

EM_AARCH64 = 183
# Where Debian's arm64 libraries live: multiarch first, then the cross
# toolchain's own copies (libstdc++, libgcc_s) as a fallback.
SYSTEM_LIB_DIRS = [
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/aarch64-linux-gnu/lib",
]
INTERPRETER = "ld-linux-aarch64.so.1"
PYTHON_VERSION = "3.11"
VM_PYTHON = "/usr/bin/python3"
VM_GDB = "/usr/bin/gdb"
# gdb loads it by name (not DT_NEEDED) to see a process's threads.
THREAD_DB = "libthread_db.so.1"
# Multiarch library directories inside an unpacked Debian package tree.
UNPACKED_LIB_DIRS = ("lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu")
# Parts of the standard library no test imports: kept out of the initramfs.
PYTHON_UNUSED = ("test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3",
                 "pydoc_data", "config-3.11-aarch64-linux-gnu", "__pycache__")


def fail(message):
    sys.exit(f"stage_vm_root: {message}")


def is_elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def is_aarch64_elf(path):
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return False
    return (len(head) == 20 and head[:4] == b"\x7fELF" and head[4] == 2 and head[5] == 1
            and int.from_bytes(head[18:20], "little") == EM_AARCH64)


class Stager:
    def __init__(self, build, source, root):
        self.build = build
        self.source = source
        self.root = root
        self.readelf = shutil.which("aarch64-linux-gnu-readelf") or fail(
            "aarch64-linux-gnu-readelf missing: run scripts/install-arm64-deps.sh")
        self.staged_elves = set()
        self.libs_done = set()
        self.dirs_done = set()
        self.python_staged = False
        self.python_left_out = []
        # Where libraries are looked for: the system's, then those unpacked
        # with a staged tool (gdb's libcurl and the like).
        self.lib_dirs = list(SYSTEM_LIB_DIRS)

    def in_tree(self, path):
        return any(os.path.commonpath([path, top]) == top for top in (self.build, self.source))

    def dest(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def copy(self, path):
        """Copies a file or directory of the host to the same path in the VM."""
        path = os.path.realpath(path)
        target = self.dest(path)
        if os.path.isdir(path):
            if path in self.dirs_done:
                return
            self.dirs_done.add(path)
            # Object dirs (*.p) and meson's private files are never needed at
            # run time. A file of the directory may be staged already.
            ignore = shutil.ignore_patterns("*.p", "meson-*", "*.o", "__pycache__")
            shutil.copytree(path, target, symlinks=False, ignore=ignore, dirs_exist_ok=True)
            for top, _, files in os.walk(target):
                self.staged_elves.update(os.path.join(top, f) for f in files if is_aarch64_elf(os.path.join(top, f)))
        elif not os.path.exists(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(path, target)
            if is_aarch64_elf(target):
                self.staged_elves.add(target)

    def copy_if_tree_path(self, value):
        """Copies the paths a word names (':'-separated lists too), if they are ours."""
        for part in value.split(":"):
            if os.path.isabs(part) and os.path.exists(part) and self.in_tree(os.path.realpath(part)):
                self.copy(part)

    def dynamic_entries(self, elf):
        out = subprocess.run([self.readelf, "-d", "-W", elf], capture_output=True, text=True).stdout
        needed, runpath = [], []
        for line in out.splitlines():
            if "(NEEDED)" in line:
                needed.append(line.split("[", 1)[1].rstrip("]"))
            elif "(RUNPATH)" in line or "(RPATH)" in line:
                runpath += line.split("[", 1)[1].rstrip("]").split(":")
        return needed, runpath

    def library_path(self, name, dirs):
        return next((os.path.join(d, name) for d in dirs if os.path.exists(os.path.join(d, name))), None)

    def stage_python(self, unpacked):
        """Stages the arm64 Python from `unpacked` once; returns the VM's interpreter path."""
        if self.python_staged:
            return VM_PYTHON
        exe = os.path.join(unpacked, "usr/bin", "python" + PYTHON_VERSION)
        stdlib = os.path.join(unpacked, "usr/lib", "python" + PYTHON_VERSION)
        if not is_aarch64_elf(exe) or not os.path.isdir(stdlib):
            fail(f"no arm64 Python {PYTHON_VERSION} in {unpacked}: run tests/arm64/fetch-vm-files --refresh")
        bindir = os.path.join(self.root, "usr/bin")
        os.makedirs(bindir, exist_ok=True)
        shutil.copy2(exe, bindir)
        os.symlink("python" + PYTHON_VERSION, os.path.join(bindir, "python3"))
        staged_lib = self.dest("/usr/lib/python" + PYTHON_VERSION)
        shutil.copytree(stdlib, staged_lib, symlinks=True, ignore=shutil.ignore_patterns(*PYTHON_UNUSED))
        self.staged_elves.add(os.path.join(bindir, "python" + PYTHON_VERSION))
        # Extension modules load on import: one whose libraries this machine
        # lacks (tkinter's, readline's...) is left out, which only matters
        # to a test that imports it.
        dynload = os.path.join(staged_lib, "lib-dynload")
        for name in sorted(os.listdir(dynload)):
            module = os.path.join(dynload, name)
            needed, _ = self.dynamic_entries(module)
            if all(n in self.libs_done or n == INTERPRETER or self.library_path(n, SYSTEM_LIB_DIRS)
                   for n in needed):
                self.staged_elves.add(module)
            else:
                os.remove(module)
                self.python_left_out.append(name.split(".")[0])
        self.python_staged = True
        return VM_PYTHON

    def stage_gdb(self, unpacked):
        """Stages the arm64 gdb from `unpacked` as /usr/bin/gdb."""
        exe = os.path.join(unpacked, "usr/bin/gdb")
        if not is_aarch64_elf(exe):
            fail(f"no arm64 gdb in {unpacked}: run tests/arm64/fetch-vm-files --refresh")
        bindir = os.path.join(self.root, "usr/bin")
        os.makedirs(bindir, exist_ok=True)
        shutil.copy2(exe, bindir)
        self.staged_elves.add(self.dest(VM_GDB))
        self.lib_dirs += [os.path.join(unpacked, d) for d in UNPACKED_LIB_DIRS]
        thread_db = self.library_path(THREAD_DB, self.lib_dirs)
        if thread_db is None:
            fail(f"{THREAD_DB} not found: apt-get install libc6:arm64")
        os.makedirs(os.path.join(self.root, "lib"), exist_ok=True)
        shutil.copy(os.path.realpath(thread_db), os.path.join(self.root, "lib", THREAD_DB))
        self.libs_done.add(THREAD_DB)

    def add_libraries(self, elf, host_path):
        needed, runpath = self.dynamic_entries(elf)
        origin = os.path.dirname(host_path)
        dirs = [d.replace("$ORIGIN", origin) for d in runpath] + self.lib_dirs
        for name in needed:
            if name in self.libs_done:
                continue
            self.libs_done.add(name)
            found = next((os.path.join(d, name) for d in dirs if os.path.exists(os.path.join(d, name))), None)
            if found is None:
                fail(f"{name} (needed by {host_path}) not found: install its :arm64 package")
            real = os.path.realpath(found)
            if self.in_tree(real):
                self.copy(found)
                staged = self.dest(real)
            else:
                staged = os.path.join(self.root, "lib", name)
                shutil.copy(real, staged)
            self.add_libraries(staged, real)

    def add_all_libraries(self):
        os.makedirs(os.path.join(self.root, "lib"), exist_ok=True)
        interpreter = next((os.path.join(d, INTERPRETER) for d in SYSTEM_LIB_DIRS
                            if os.path.exists(os.path.join(d, INTERPRETER))), None)
        if interpreter is None:
            fail(f"{INTERPRETER} not found: apt-get install libc6:arm64")
        shutil.copy(os.path.realpath(interpreter), os.path.join(self.root, "lib", INTERPRETER))
        self.libs_done.add(INTERPRETER)
        for staged in sorted(self.staged_elves):
            self.add_libraries(staged, "/" + os.path.relpath(staged, self.root))


def introspect(build, what):
    """meson's introspection files (what `meson introspect --WHAT` prints),
    read directly: starting meson twice costs seconds on a loaded machine."""
    path = os.path.join(build, "meson-info", f"intro-{what}.json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        fail(f"cannot read {path}: {e}")


def selected(test, suites, names):
    if names and test["name"] not in names:
        return False
    test_suites = {s.split(":")[-1] for s in test.get("suite", [])}
    return not suites or bool(test_suites & set(suites))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build")
    parser.add_argument("root")
    parser.add_argument("--suite", action="append", default=[])
    parser.add_argument("--python", help="an unpacked arm64 Python for tests run by python3")
    parser.add_argument("--gdb", help="an unpacked arm64 gdb for the tests of suite needs-gdb")
    parser.add_argument("--timeout-multiplier", type=float, default=3.0)
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()

    build = os.path.realpath(args.build)
    with open(os.path.join(build, "meson-info", "meson-info.json")) as f:
        source = os.path.realpath(json.load(f)["directories"]["source"])
    stager = Stager(build, source, os.path.realpath(args.root))

    target_files = {t["id"]: t["filename"] for t in introspect(build, "targets")}
    tests = [t for t in introspect(build, "tests") if selected(t, args.suite, args.names)]
    if not tests:
        fail("no tests selected")
    listing = []
    test_dir = os.path.join(stager.root, "probed-tests")
    os.makedirs(test_dir, exist_ok=True)
    for index, test in enumerate(tests, 1):
        cmd = test["cmd"]
        exe = cmd[0]
        if is_elf(exe) and not is_aarch64_elf(exe):
            fail(f"{exe} is not an aarch64 program: is {build} a cross build (tests/arm64/aarch64-linux-gnu.ini)?")
        if stager.in_tree(os.path.realpath(exe)) or is_aarch64_elf(exe):
            stager.copy(exe)
        elif os.path.basename(exe).startswith("python3") and args.python:
            cmd = [stager.stage_python(args.python)] + cmd[1:]
        else:
            fail(f"test {test['name']} runs {exe}, a host program the VM does not have")
        for word in cmd[1:]:
            stager.copy_if_tree_path(word)
        env = test.get("env") or {}
        for value in env.values():
            stager.copy_if_tree_path(value)
        for dep in test.get("depends", []):
            for path in target_files.get(dep, []):
                if os.path.exists(path):
                    stager.copy(path)
        workdir = test.get("workdir") or build  # meson test runs tests from the build dir
        os.makedirs(stager.dest(workdir), exist_ok=True)
        script = [f"cd {shlex.quote(workdir)} || exit 126"]
        script += [f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items())]
        script.append("exec " + " ".join(shlex.quote(w) for w in cmd))
        with open(os.path.join(test_dir, f"{index}.sh"), "w") as f:
            f.write("\n".join(script) + "\n")
        # The emulator is slower than the host, ptrace stops much slower.
        # meson's timeout 0 means none: the VM's own timeout still applies.
        meson_timeout = test.get("timeout") or 0
        timeout = max(1, int(meson_timeout * args.timeout_multiplier)) if meson_timeout > 0 else 0
        listing.append(f"{index} {timeout} {test['name']}")
    if args.gdb and any(selected(t, ["needs-gdb"], []) for t in tests):
        stager.stage_gdb(args.gdb)
    stager.add_all_libraries()
    with open(os.path.join(test_dir, "list"), "w") as f:
        f.write("\n".join(listing) + "\n")
    print(f"stage_vm_root: {len(tests)} test(s), {len(stager.libs_done)} libraries")
    if stager.python_left_out:
        print(f"stage_vm_root: Python modules left out (libraries missing): {' '.join(stager.python_left_out)}")


if __name__ == "__main__":
    main()
