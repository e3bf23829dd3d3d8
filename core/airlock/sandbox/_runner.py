"""The program that runs *inside* the sandbox process (passed to ``python -I -S -c``).

Standalone on purpose: it imports nothing from airlock, so the sandbox needs no view of the
host's site-packages. Order matters: read the job from stdin, write the job's files, set
rlimits, (fallback mode) Landlock, then seccomp, and only then compile and run user code.
Exit codes 120-127 are reserved for the runner's own failures (see ``_bwrap.RUNNER_EXIT``).
"""

import marshal
import os
import resource
import sys

EXIT_SETUP, EXIT_SECCOMP, EXIT_LANDLOCK, EXIT_PRIVS = 120, 121, 122, 123

DENY_SYSCALLS = (
    "execve", "execveat", "fork", "vfork", "clone", "clone3", "socket", "socketpair", "connect", "bind",
    "listen", "accept", "accept4", "sendto", "sendmsg", "sendmmsg", "ptrace", "process_vm_readv",
    "process_vm_writev", "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "bpf",
    "perf_event_open", "keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "open_by_handle_at", "name_to_handle_at", "personality", "mknod", "mknodat",
    "acct", "swapon", "swapoff", "reboot", "syslog", "quotactl", "iopl", "ioperm", "fanotify_init",
    "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick", "mount_setattr",
    "kill", "tkill", "tgkill", "pidfd_open", "pidfd_send_signal", "pidfd_getfd", "rt_sigqueueinfo",
    "rt_tgsigqueueinfo", "kcmp", "process_madvise", "shmget", "shmat", "shmctl", "shmdt", "msgget", "msgsnd",
    "msgrcv", "msgctl", "semget", "semop", "semtimedop", "semctl", "mq_open", "mq_unlink", "mq_timedsend",
    "mq_timedreceive", "mq_notify", "mq_getsetattr", "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups",
)


# a rule for these must load, or nothing runs (the rest may be absent on some architectures)
CORE_SYSCALLS = frozenset(("execve", "socket", "connect", "clone", "ptrace", "unshare", "setns", "mount", "bpf"))


def _die(code, msg):
    try:
        os.write(2, ("airlock-sandbox: " + msg + "\n").encode("utf-8", "replace"))
    finally:
        os._exit(code)


def _seccomp(backend="auto"):
    """Deny the syscalls above with EPERM; python3-seccomp if importable, else libseccomp via ctypes."""
    import errno
    try:
        if backend == "libseccomp":
            raise ImportError("libseccomp asked for")
        try:
            import seccomp
        except ImportError:
            sys.path.append("/usr/lib/python3/dist-packages")
            try:
                import seccomp
            finally:
                sys.path.pop()
        flt = seccomp.SyscallFilter(seccomp.ALLOW)
        for name in DENY_SYSCALLS:
            try:
                flt.add_rule(seccomp.ERRNO(errno.EPERM), name)
            except (RuntimeError, ValueError, OSError):
                if name in CORE_SYSCALLS:
                    raise
                # otherwise: not a syscall on this architecture
        flt.load()
        return "python3-seccomp"
    except ImportError:
        if backend == "python3-seccomp":
            raise
    import ctypes
    lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(0x7FFF0000)  # SCMP_ACT_ALLOW
    if not ctx:
        raise OSError("seccomp_init failed")
    for name in DENY_SYSCALLS:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        rc = lib.seccomp_rule_add(ctx, 0x00050000 | errno.EPERM, nr, 0) if nr != -1 else -1
        if rc != 0 and name in CORE_SYSCALLS:
            raise OSError(-rc, "seccomp rule for %s failed" % name)
    rc = lib.seccomp_load(ctx)
    if rc != 0:
        raise OSError(-rc, "seccomp_load failed")
    return "libseccomp-ctypes"


def _landlock(read_paths, write_paths):
    """Fallback mode: the process may read only ``read_paths`` and write only ``write_paths``."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    abi = syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # LANDLOCK_CREATE_RULESET_VERSION
    if abi < 1:
        raise OSError(ctypes.get_errno(), "landlock unavailable")
    read_acc = 1 | 4 | 8  # EXECUTE | READ_FILE | READ_DIR
    all_acc = (1 << 13) - 1
    if abi >= 2:
        all_acc |= 1 << 13  # REFER
    if abi >= 3:
        all_acc |= 1 << 14  # TRUNCATE

    class Attr(ctypes.Structure):
        _fields_ = [("handled_access_fs", ctypes.c_uint64)]

    class Beneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    attr = Attr(all_acc)
    rfd = syscall(444, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)), ctypes.c_uint32(0))
    if rfd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset")
    for paths, acc in ((read_paths, read_acc), (write_paths, all_acc)):
        for p in paths:
            fd = os.open(p, os.O_PATH | os.O_CLOEXEC)
            rule = Beneath(acc if os.path.isdir(p) else acc & (1 | 2 | 4 | (1 << 14)), fd)
            if syscall(445, ctypes.c_int(rfd), ctypes.c_int(1), ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
                raise OSError(ctypes.get_errno(), "landlock_add_rule " + p)
            os.close(fd)
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    if syscall(446, ctypes.c_int(rfd), ctypes.c_uint32(0)) != 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    os.close(rfd)


def _write_files(files, workdir):
    for rel, data in files.items():
        parts = [p for p in rel.replace("\\", "/").split("/") if p not in ("", ".")]
        if not parts or ".." in parts:
            _die(EXIT_SETUP, "bad file name %r" % rel)
        path = os.path.join(workdir, *parts)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def _file_texts(files):
    """The job's files as the global ``FILES`` (name -> str, or bytes if not UTF-8): layer 1 has no open()."""
    out = {}
    for rel, raw in files.items():
        try:
            out[rel] = raw.decode("utf-8")
        except UnicodeDecodeError:
            out[rel] = raw
    return out


def _guarded_env(job):
    """Layer 1's runtime half: restricted builtins, a guarded getattr and a guarded import."""
    import builtins
    import unicodedata

    allowed = frozenset(job["allowed_modules"])
    blocked = frozenset(job["blocked_attrs"])
    try:
        raise ValueError
    except ValueError as exc:
        tb_type = type(exc.__traceback__)
    frame_type = type(sys._getframe())
    module_type = type(sys)
    bad_types = (frame_type, type(main.__code__), tb_type)
    real_getattr, real_import = builtins.getattr, builtins.__import__

    def deny(what):
        raise AttributeError("sandbox: %s is not allowed" % what)

    def check_format(fmt):
        import _string
        for _lit, field, spec, _conv in _string.formatter_parser(fmt):
            if field and ("." in field or "[" in field):
                raise ValueError("sandbox: str.format fields may not use '.' or '['")
            if spec and "{" in spec:
                check_format(spec)

    def ga(obj, name, *default):
        if not isinstance(name, str):
            raise TypeError("attribute name must be a string")
        n = unicodedata.normalize("NFKC", name)
        if n.startswith("_") and not (n == "__init__" and isinstance(obj, super)):
            deny("attribute %r" % name)
        if n in blocked:
            deny("attribute %r" % name)
        try:
            value = real_getattr(obj, name)
        except AttributeError:
            if default:
                return default[0]
            raise
        if isinstance(value, module_type) and value.__name__.split(".")[0] not in allowed:
            deny("module %r" % value.__name__)
        if isinstance(value, bad_types):
            deny("a %s object" % type(value).__name__)
        if n == "format" and isinstance(obj, str):
            def safe_format(*a, **k):
                check_format(obj)
                return value(*a, **k)
            return safe_format
        if n == "format" and isinstance(obj, type) and issubclass(obj, str):
            def safe_unbound_format(fmt, *a, **k):  # str.format(fmt, ...)
                if isinstance(fmt, str):
                    check_format(fmt)
                return value(fmt, *a, **k)
            return safe_unbound_format
        return value

    def has(obj, name):
        try:
            ga(obj, name)
            return True
        except AttributeError:
            return False

    def imp(name, globals=None, locals=None, fromlist=(), level=0):
        parts = str(name).split(".")
        if level or parts[0] not in allowed or any(p.startswith("_") for p in parts):
            raise ImportError("sandbox: import of %r is not allowed" % name)
        for item in fromlist or ():
            if str(item).startswith("_") or item in blocked:
                raise ImportError("sandbox: importing %r is not allowed" % item)
        mod = real_import(name, globals, locals, fromlist, level)
        for item in fromlist or ():
            v = real_getattr(mod, item, None)
            if isinstance(v, module_type) and v.__name__.split(".")[0] not in allowed:
                raise ImportError("sandbox: importing %r is not allowed" % item)
        return mod

    def typ(*args):
        if len(args) != 1:
            raise TypeError("sandbox: type() with 3 arguments is not allowed")
        return type(args[0])

    safe = {}
    for k, v in vars(builtins).items():
        if isinstance(v, type) and issubclass(v, BaseException):
            safe[k] = v
    for k in ("abs", "all", "any", "ascii", "bin", "bool", "bytearray", "bytes", "callable", "chr",
              "classmethod", "complex", "dict", "divmod", "enumerate", "filter", "float", "format",
              "frozenset", "hash", "hex", "id", "int", "isinstance", "issubclass", "iter", "len", "list",
              "map", "max", "min", "next", "object", "oct", "ord", "pow", "print", "property", "range",
              "repr", "reversed", "round", "set", "slice", "sorted", "staticmethod", "str", "sum", "super",
              "tuple", "zip", "__build_class__", "None", "True", "False", "Ellipsis", "NotImplemented"):
        safe[k] = getattr(builtins, k)
    safe.update(getattr=ga, hasattr=has, __import__=imp, type=typ)
    return {"__builtins__": safe, "__name__": "__main__", "__airlock_ga__": ga}


def main():
    try:
        job = marshal.loads(sys.stdin.buffer.read())  # from the parent; basic types only
        workdir = job["workdir"]
        os.makedirs(workdir, exist_ok=True)
        _write_files(job.get("files") or {}, workdir)
        os.chdir(workdir)
        lim = job["limits"]
        for res, val in ((resource.RLIMIT_AS, lim["memory_bytes"]), (resource.RLIMIT_CPU, lim["cpu_seconds"]),
                         (resource.RLIMIT_FSIZE, lim["file_bytes"]), (resource.RLIMIT_NOFILE, lim["open_files"]),
                         (resource.RLIMIT_NPROC, lim["processes"]), (resource.RLIMIT_CORE, 0)):
            resource.setrlimit(res, (val, val))
        code = job["code"]
        env = _guarded_env(job) if job["layer1"] else {"__name__": "__main__"}
        env["FILES"] = _file_texts(job.get("files") or {})
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - any setup failure is fatal and reported
        _die(EXIT_SETUP, "setup failed: %s: %s" % (type(exc).__name__, exc))
    if job.get("landlock"):
        try:
            _landlock(job["landlock"]["read"], job["landlock"]["write"])
        except BaseException as exc:  # noqa: BLE001
            _die(EXIT_LANDLOCK, "landlock failed: %s" % exc)
    try:  # never optional
        _seccomp(job.get("seccomp_backend", "auto"))
    except BaseException as exc:  # noqa: BLE001
        _die(EXIT_SECCOMP, "seccomp failed: %s: %s" % (type(exc).__name__, exc))
    del job
    status = 0
    try:
        exec(code if isinstance(code, type(main.__code__)) else compile(code, "<sandbox>", "exec"), env)
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) and 0 <= exc.code < 120 else 1
    except BaseException:  # noqa: BLE001 - user code's error is the result
        import traceback
        etype, exc, tb = sys.exc_info()
        traceback.print_exception(etype, exc, tb.tb_next if tb is not None else None, limit=20)  # skip main()
        status = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001
        pass
    os._exit(status)


if __name__ == "__main__":  # python -c / the marshal boot; importing it (tests) runs nothing
    main()
