#!/usr/bin/python3
"""Tests of the results' provenance (harness/provenance.cpp, harness/embed_commit.cmake).

    provenance_test.py SWITCHYARD VALIDATOR SOURCE_DIR OUTDIR
        A tiny run; its machine and build blocks must be present and agree with what this
        script reads itself: arch = uname -m, CPU identity and flags = /proc/cpuinfo, the
        machine id = the same derivation of /etc/machine-id, the embedded commit = the
        source tree's HEAD, and so on.
    provenance_test.py --embed CMAKE EMBED_SCRIPT OUTDIR
        The build-time embedding on scratch trees: a commit, an edited tree, a new commit,
        a tarball (no .git, also one unpacked inside another repository), and no rewrite of
        the generated file when nothing changed (so nothing rebuilds).

Exit 0 when every check passes; 1 with one line per failure.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid

# provenance.cpp's namespace for the derived machine id
NS = uuid.UUID("59a82061-4b04-4304-9e7f-0b84586c597b")
EMPTY_BLOB = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def git(src, *args, check_rc=True):
    r = subprocess.run(["git", "-C", src, *args], capture_output=True, text=True)
    if check_rc and r.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} in {src}: {r.stderr.strip()}")
    return r.stdout.strip() if r.returncode == 0 else None


def diff_id(src):
    d = subprocess.run(["git", "-C", src, "diff", "--no-color", "--no-ext-diff", "--no-textconv", "--binary",
                        "HEAD", "--"], capture_output=True, check=True).stdout
    return subprocess.run(["git", "hash-object", "--stdin"], input=d, capture_output=True,
                          check=True).stdout.decode().strip()


def cpuinfo_first():
    kv = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            if not line.strip():
                if kv:
                    break
                continue
            if ":" in line:
                k, v = line.split(":", 1)
                kv.setdefault(k.strip(), v.strip())
    return kv


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def run_mode(sy, validator, src, outdir):
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    out = os.path.join(outdir, "timers.json")
    r = subprocess.run([sy, "run", "--scenario", "timers", "--variant", "asm-pooled-fifo", "--param", "fibers=10",
                        "--param", "max_ms=1", "--repetitions", "1", "--out", out],
                       capture_output=True, text=True, timeout=100)
    check(r.returncode == 0, f"switchyard run exits 0 (got {r.returncode}; stderr {r.stderr[-500:]!r})")
    if r.returncode != 0:
        return
    v = subprocess.run([sys.executable, validator, out], capture_output=True, text=True)
    check(v.returncode == 0, f"the file validates: {v.stdout.strip()}")
    doc = json.load(open(out))
    m, b = doc["machine"], doc["build"]

    check(m.get("arch") == os.uname().machine, f"arch {m.get('arch')!r} is uname -m {os.uname().machine!r}")
    cpu = cpuinfo_first()
    flags = cpu.get("flags", cpu.get("Features"))
    check(m.get("cpu_flags") == flags, "cpu_flags are the first CPU's flags in /proc/cpuinfo")
    if "cpu family" in cpu:  # x86
        for key, field in (("cpu family", "cpu_family"), ("model", "cpu_model_id"), ("stepping", "cpu_stepping")):
            check(m.get(field) == int(cpu[key]), f"{field} {m.get(field)!r} is cpuinfo's {key} {cpu[key]}")
        check(m.get("cpu_vendor") == cpu.get("vendor_id"), "cpu_vendor is vendor_id")
        if "microcode" in cpu:
            check(m.get("cpu_microcode") == cpu["microcode"], "cpu_microcode is cpuinfo's")

    mid = read("/etc/machine-id")
    if mid and re.fullmatch(r"[0-9a-fA-F]{32}", mid):
        want = str(uuid.uuid5(NS, "/etc/machine-id:" + mid))
        check(m.get("machine_id") == want, f"machine_id {m.get('machine_id')!r} is the derived UUID {want}")
        check(mid not in json.dumps(doc).replace("-", ""), "the raw /etc/machine-id appears nowhere in the file")
        check(m.get("machine_id_source") == "/etc/machine-id", "machine_id_source names /etc/machine-id")
    else:
        check("machine_id" in m, "machine_id present (null or derived from the DMI uuid)")

    check(m.get("kernel_cmdline") == read("/proc/cmdline"), "kernel_cmdline is /proc/cmdline")
    vdir = "/sys/devices/system/cpu/vulnerabilities"
    if os.path.isdir(vdir):
        mit = m.get("mitigations") or {}
        check(sorted(mit) == sorted(os.listdir(vdir)), "mitigations name every file in " + vdir)
        check(all(mit[k] == read(os.path.join(vdir, k)) for k in mit), "mitigations hold each file's text")
    cs = read("/sys/devices/system/clocksource/clocksource0/current_clocksource")
    check(m.get("clocksource") == cs, f"clocksource {m.get('clocksource')!r} is {cs!r}")
    thp = read("/sys/kernel/mm/transparent_hugepage/enabled")
    if thp:
        want = re.search(r"\[(\w+)\]", thp).group(1)
        check((m.get("transparent_hugepages") or {}).get("enabled") == want, f"transparent_hugepages.enabled {want}")
    smt = read("/sys/devices/system/cpu/smt/control")
    check((m.get("smt") or {}).get("control") == smt, f"smt.control is {smt!r}")

    la = doc.get("load_average") or {}
    for when in ("before", "after"):
        x = la.get(when)
        check(isinstance(x, list) and len(x) == 3 and all(isinstance(v, (int, float)) and v >= 0 for v in x),
              f"load_average.{when} is three non-negative numbers: {x!r}")

    sw = m.get("software") or {}
    check(sw.get("glibc") == os.confstr("CS_GNU_LIBC_VERSION").split()[-1], f"software.glibc {sw.get('glibc')!r}")
    for tool in ("go", "nginx", "wrk"):
        installed = shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/local/sbin")
        got = sw.get(tool)
        check((got is not None) == bool(installed) and (got is None or (isinstance(got, str) and got)),
              f"software.{tool} {got!r} (installed: {installed})")
    if shutil.which("go"):
        gv = subprocess.run(["go", "version"], capture_output=True, text=True).stdout
        check(sw.get("go") and ("go" + sw["go"]) in gv, f"software.go {sw.get('go')!r} is in {gv.strip()!r}")

    # The build block: the commit embedded at build time.
    top = git(src, "rev-parse", "--show-toplevel", check_rc=False)
    if top and os.path.realpath(top) == os.path.realpath(src):
        head = git(src, "rev-parse", "HEAD")
        # In CI the checkout is clean and just built; locally the tree may be dirty, so the
        # hash is what must agree. A value taken when cmake configured fails here after the
        # next commit.
        check(b.get("commit") == head, f"build.commit {b.get('commit')!r} is the checkout's HEAD {head}")
        d = b.get("describe") or ""
        check(bool(d) and d.endswith("-dirty") == (b.get("dirty") is True),
              f"build.describe {d!r} agrees with build.dirty {b.get('dirty')!r}")
        co = b.get("checkout") or {}
        now_dirty = diff_id(src) != EMPTY_BLOB
        check(co.get("commit") == head and co.get("dirty") == now_dirty,
              f"build.checkout {co!r} is HEAD {head[:12]}, dirty {now_dirty}")
        if b.get("commit") == head and b.get("dirty") is False and not now_dirty:
            check(co.get("relation") == "same" and b.get("binary_older_than_checkout") is False,
                  "a clean build of a clean HEAD is the 'same' as its checkout")
        if co.get("relation") == "same":
            check("warning: this binary was built" not in r.stderr, "no staleness warning when the same")
        else:
            check("warning: this binary was built" in r.stderr, f"a {co.get('relation')} binary warns on stderr")
    else:
        check(b.get("commit") is None and b.get("checkout") is None, "outside a git checkout: commit null")


def parse_generated(path):
    text = open(path).read()
    mm = re.search(r'kEmbeddedCommit\{"([0-9a-f]*)", "((?:[^"\\]|\\.)*)", (-?\d), "([0-9a-f]*)"\}', text)
    if not mm:
        raise AssertionError(f"{path}: no kEmbeddedCommit definition in {text!r}")
    return mm.group(1), mm.group(2), int(mm.group(3)), mm.group(4)


def embed_mode(cmake, script, outdir):
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    # No user or system git configuration (signing, hooks, templates) in the scratch repos.
    env = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1",
               GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid")
    os.environ.update(env)
    gen = os.path.join(outdir, "embedded_commit.cpp")

    def embed(src):
        subprocess.run([cmake, f"-DSRC={src}", f"-DOUT={gen}", "-P", script], check=True, capture_output=True)
        return parse_generated(gen)

    def unchanged_on_rerun(src, what):
        os.utime(gen, ns=(10**18, 10**18))  # a mark a rewrite would replace
        embed(src)
        check(os.stat(gen).st_mtime_ns == 10**18, f"{what}: the generated file is not rewritten (no rebuild)")

    repo = os.path.join(outdir, "repo")
    os.makedirs(repo)
    git(repo, "init", "-q")
    with open(os.path.join(repo, "a.txt"), "w") as f:
        f.write("one\n")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-m", "first")
    head = git(repo, "rev-parse", "HEAD")
    c, d, dirty, did = embed(repo)
    check((c, d, dirty, did) == (head, head[:len(d)], 0, "") and len(d) >= 7,
          f"clean commit: {(c, d, dirty, did)} is {head}, clean")
    unchanged_on_rerun(repo, "clean tree")

    with open(os.path.join(repo, "a.txt"), "a") as f:
        f.write("two\n")
    c, d, dirty, did = embed(repo)
    check(c == head and dirty == 1 and d.endswith("-dirty") and did == diff_id(repo) and did,
          f"edited tree: dirty, describe {d!r}, diff id {did} is git's")
    unchanged_on_rerun(repo, "edited tree")
    with open(os.path.join(repo, "a.txt"), "a") as f:
        f.write("three\n")
    check(embed(repo)[3] not in ("", did), "a further edit changes the diff id")

    git(repo, "commit", "-q", "-am", "second")
    head2 = git(repo, "rev-parse", "HEAD")
    c, d, dirty, did = embed(repo)
    check(c == head2 != head and dirty == 0 and did == "", f"new commit: {c} is {head2}, clean")

    with tempfile.TemporaryDirectory() as tmp:   # outside any repository
        tarball = os.path.join(tmp, "switchyard-src")
        shutil.copytree(repo, tarball, ignore=shutil.ignore_patterns(".git"))
        check(embed(tarball) == ("", "", -1, ""), "tarball without .git: unknown")
    # Unpacked inside another checkout (the scratch repo): still not a checkout of its own.
    nested = os.path.join(repo, "unpacked")
    os.makedirs(nested)
    check(embed(nested) == ("", "", -1, ""), "a tree inside another repository: unknown, not that repository's")
    empty = os.path.join(outdir, "empty")
    os.makedirs(empty)
    git(empty, "init", "-q")
    check(embed(empty) == ("", "", -1, ""), "a repository without commits: unknown")


def main(argv):
    if len(argv) == 4 and argv[0] == "--embed":
        embed_mode(*argv[1:])
    elif len(argv) == 4:
        run_mode(*argv)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
