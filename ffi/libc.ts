/**
 * The C library through Deno FFI: one symbol table, opened in one place, and typed wrappers.
 *
 * Everything above this file speaks numbers, strings and `Uint8Array`s, never pointers or
 * `bigint`s. Checked wrappers throw {@linkcode SyscallError} (message like
 * `ioctl(TUNSETIFF): EPERM (Operation not permitted)`, with `.code = "EPERM"`); the hot-path
 * wrappers ({@linkcode readFd}, {@linkcode writeFd}, {@linkcode pollNow}) never throw and
 * return `-errno` instead.
 *
 * errno is per thread. Synchronous FFI calls run on the JS thread, so each wrapper reads errno
 * right after the call that failed, before anything else runs. The nonblocking `poll` runs on
 * another thread whose errno cannot be read: {@linkcode pollWait} returns a negative number
 * for "look again" (EINTR included) and its callers must not treat that as an error.
 *
 * Variadic functions. Deno's FFI cannot declare a variadic C function, and `ioctl(int,
 * unsigned long, ...)`, `fcntl(int, int, ...)` and `open(const char*, int, ...)` are variadic.
 * - Linux x86-64 (System V) and Linux arm64 (AAPCS64) pass variadic arguments exactly where a
 *   fixed argument of the same type would go (registers first), so the fixed-arity shapes
 *   `ioctl(i32, u64, pointer)` and `fcntl(i32, i32, i32)` work. (x86-64 also wants `%al` to hold
 *   the number of vector registers used; glibc's `ioctl`/`fcntl` only use it to decide whether
 *   to spill `%xmm` registers, which is harmless.)
 * - macOS x86-64 uses System V too: same shapes.
 * - macOS arm64 (Apple's ABI) passes every variadic argument on the stack, even when argument
 *   registers are free (Apple, "Writing ARM64 code for Apple platforms"; libffi needs
 *   `ffi_prep_cif_var` for it, which Deno does not expose). A fixed-arity `ioctl(fd, req, ptr)`
 *   puts `ptr` in x2 while `ioctl` reads its `va_arg` from `[sp]`: EFAULT or worse. The
 *   workaround (described for .NET in dotnet/runtime#48796, and how ChezScheme#745 was
 *   explained) is to declare 8 fixed integer arguments, filling x0-x7, so that the 9th lands in
 *   the first stack slot where the variadic callee looks for it: `ioctlStack` and `fcntlStack`
 *   below, with six dummy `u64` zeros. The 9th argument is declared 8 bytes wide (`buffer` or
 *   `i64`) so the whole slot is written. `open` is only called without `O_CREAT`, so its
 *   variadic `mode` is never read and the two-argument shape is right everywhere.
 * @module
 */

/**
 * Every foreign function tcptun uses. Parameter comments give the C types.
 * Platform-only symbols are `optional` (null where the platform lacks them).
 */
export const LIBC_SYMBOLS = {
  /** int open(const char *path, int oflag, ...); called without O_CREAT, so 2 args. */
  open: {
    parameters: [
      "buffer", // const char *path (NUL-terminated)
      "i32", // int oflag
    ],
    result: "i32",
  },
  /** int close(int fd); */
  close: {
    parameters: [
      "i32", // int fd
    ],
    result: "i32",
  },
  /**
   * ssize_t read(int fd, void *buf, size_t count);
   * The result is declared `i32`: the low half of the 64-bit return register (eax / w0), exact
   * for counts below 2 GiB and -1 on failure. An `isize` result would be a fresh BigInt per packet.
   */
  read: {
    parameters: [
      "i32", // int fd
      "buffer", // void *buf
      "usize", // size_t count
    ],
    result: "i32", // ssize_t, low 32 bits (see above)
  },
  /** ssize_t write(int fd, const void *buf, size_t count); result `i32` as for `read`. */
  write: {
    parameters: [
      "i32", // int fd
      "buffer", // const void *buf
      "usize", // size_t count
    ],
    result: "i32", // ssize_t, low 32 bits
  },
  /** int poll(struct pollfd *fds, nfds_t nfds, int timeout); off the JS thread. */
  poll: {
    parameters: [
      "pointer", // struct pollfd *fds (must outlive the call: allocate with an ArrayBuffer)
      "u64", // nfds_t nfds (unsigned long on Linux; unsigned int on macOS, zero-extended)
      "i32", // int timeout (milliseconds, -1 = infinite)
    ],
    result: "i32",
    nonblocking: true,
  },
  /** The same poll(2), synchronous, for a zero-timeout check whose errno can be read. */
  pollSync: {
    name: "poll",
    parameters: [
      "buffer", // struct pollfd *fds
      "u64", // nfds_t nfds
      "i32", // int timeout
    ],
    result: "i32",
  },
  /** int ioctl(int fd, unsigned long request, ...); fixed-arity shape (see module doc). */
  ioctl: {
    parameters: [
      "i32", // int fd
      "u64", // unsigned long request
      "buffer", // void *arg (the variadic argument)
    ],
    result: "i32",
  },
  /**
   * ioctl with an integer argument passed by value (e.g. `TUNSETOFFLOAD`, which reads its
   * `unsigned long` argument itself, not through a pointer); Linux only.
   */
  ioctlValue: {
    name: "ioctl",
    parameters: [
      "i32", // int fd
      "u64", // unsigned long request
      "u64", // unsigned long arg (the variadic argument, by value)
    ],
    result: "i32",
  },
  /** ioctl for macOS arm64: the variadic argument pushed to the stack by 6 dummy registers. */
  ioctlStack: {
    name: "ioctl",
    parameters: [
      "i32", // int fd                       (x0)
      "u64", // unsigned long request        (x1)
      "u64", // unused, 0                    (x2)
      "u64", // unused, 0                    (x3)
      "u64", // unused, 0                    (x4)
      "u64", // unused, 0                    (x5)
      "u64", // unused, 0                    (x6)
      "u64", // unused, 0                    (x7)
      "buffer", // void *arg, variadic       ([sp])
    ],
    result: "i32",
  },
  /** int fcntl(int fd, int cmd, ...); fixed-arity shape with an int argument. */
  fcntl: {
    parameters: [
      "i32", // int fd
      "i32", // int cmd
      "i32", // int arg (the variadic argument)
    ],
    result: "i32",
  },
  /** fcntl for macOS arm64: the variadic argument in the first stack slot (see module doc). */
  fcntlStack: {
    name: "fcntl",
    parameters: [
      "i32", // int fd                       (x0)
      "i32", // int cmd                      (x1)
      "u64", // unused, 0                    (x2)
      "u64", // unused, 0                    (x3)
      "u64", // unused, 0                    (x4)
      "u64", // unused, 0                    (x5)
      "u64", // unused, 0                    (x6)
      "u64", // unused, 0                    (x7)
      "i64", // int arg, variadic, widened to the 8-byte slot ([sp])
    ],
    result: "i32",
  },
  /** int socket(int domain, int type, int protocol); */
  socket: {
    parameters: [
      "i32", // int domain
      "i32", // int type
      "i32", // int protocol
    ],
    result: "i32",
  },
  /** int socketpair(int domain, int type, int protocol, int sv[2]); */
  socketpair: {
    parameters: [
      "i32", // int domain
      "i32", // int type
      "i32", // int protocol
      "buffer", // int sv[2]
    ],
    result: "i32",
  },
  /** int connect(int fd, const struct sockaddr *addr, socklen_t len); */
  connect: {
    parameters: [
      "i32", // int fd
      "buffer", // const struct sockaddr *addr
      "u32", // socklen_t len
    ],
    result: "i32",
  },
  /** int getsockopt(int fd, int level, int name, void *value, socklen_t *len); */
  getsockopt: {
    parameters: [
      "i32", // int fd
      "i32", // int level
      "i32", // int optname
      "buffer", // void *optval
      "buffer", // socklen_t *optlen (in: size of optval; out: bytes written)
    ],
    result: "i32",
  },
  /** int pipe(int fds[2]); */
  pipe: {
    parameters: [
      "buffer", // int fds[2]
    ],
    result: "i32",
  },
  /** int eventfd(unsigned int initval, int flags); Linux only. */
  eventfd: {
    parameters: [
      "u32", // unsigned int initval
      "i32", // int flags
    ],
    result: "i32",
    optional: true,
  },
  /** int *__errno_location(void); glibc/musl (Linux). */
  __errno_location: {
    parameters: [],
    result: "pointer", // int * (this thread's errno)
    optional: true,
  },
  /** int *__error(void); macOS libSystem. */
  __error: {
    parameters: [],
    result: "pointer", // int * (this thread's errno)
    optional: true,
  },
  /** char *strerror(int errnum); */
  strerror: {
    parameters: [
      "i32", // int errnum
    ],
    result: "pointer", // char * (static or thread-local; read at once)
  },
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened symbols of {@linkcode LIBC_SYMBOLS}. */
export type LibcSymbols = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

/** The operating systems this module supports. */
export type LibcOs = "linux" | "darwin";

/** Default library path for an OS, or undefined where tcptun has no TUN support. */
export function defaultLibcPath(os: string = Deno.build.os): string | undefined {
  if (os === "linux") return "libc.so.6";
  if (os === "darwin") return "libSystem.B.dylib";
  return undefined;
}

/**
 * The library path {@linkcode libc} opens: `$TCPTUN_LIBC` when set, else `libc.so.6` on Linux,
 * `libSystem.B.dylib` on macOS.
 */
export function libcPath(): string {
  let override: string | undefined;
  // Ask first, so that a program without --allow-env never prompts: it uses the default.
  const env = Deno.permissions.querySync({ name: "env", variable: "TCPTUN_LIBC" });
  if (env.state === "granted") override = Deno.env.get("TCPTUN_LIBC");
  if (override) return override;
  const path = defaultLibcPath();
  if (path === undefined) {
    throw new Error(`tcptun: unsupported operating system ${Deno.build.os} (need linux or darwin)`);
  }
  return path;
}

let lib: LibcSymbols | undefined;
let errnoPointer: (() => Deno.PointerValue) | undefined;

/**
 * Opens the C library once (lazily) and returns its symbols.
 * @throws {Error} "tcptun: cannot open the C library ..." with the original error as `cause`.
 */
export function libc(): LibcSymbols {
  if (lib !== undefined) return lib;
  const path = libcPath();
  let opened: Deno.DynamicLibrary<typeof LIBC_SYMBOLS>;
  try {
    opened = Deno.dlopen(path, LIBC_SYMBOLS);
  } catch (cause) {
    throw new Error(
      `tcptun: cannot open the C library ${JSON.stringify(path)} ` +
        `(is --allow-ffi granted? TCPTUN_LIBC overrides the path)`,
      { cause },
    );
  }
  const s = opened.symbols;
  const loc = s.__errno_location ?? s.__error;
  if (loc === null) {
    opened.close();
    throw new Error(
      `tcptun: ${JSON.stringify(path)} has neither __errno_location nor __error`,
    );
  }
  errnoPointer = loc;
  lib = s;
  return s;
}

/**
 * This thread's `errno`. Call it right after the synchronous call that failed.
 */
export function errno(): number {
  if (errnoPointer === undefined) libc();
  const p = errnoPointer!();
  if (p === null) return 0;
  return new Deno.UnsafePointerView(p).getInt32(0);
}

/** errno values that tcptun names, for one OS. */
export type ErrnoTable = Readonly<Record<string, number>>;

/** errno values on Linux (asm-generic/errno-base.h, errno.h). */
export const LINUX_ERRNO: ErrnoTable = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ENOSPC: 28,
  EPIPE: 32,
  ENAMETOOLONG: 36,
  ENOTSOCK: 88,
  EMSGSIZE: 90,
  EPROTOTYPE: 91,
  ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETDOWN: 100,
  ENETUNREACH: 101,
  ECONNRESET: 104,
  ENOBUFS: 105,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
  ECONNREFUSED: 111,
  EHOSTUNREACH: 113,
};

/** errno values on macOS (sys/errno.h). */
export const DARWIN_ERRNO: ErrnoTable = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  EBADF: 9,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ENOSPC: 28,
  EPIPE: 32,
  EAGAIN: 35,
  ENOTSOCK: 38,
  EMSGSIZE: 40,
  EPROTOTYPE: 41,
  ENOPROTOOPT: 42,
  EPROTONOSUPPORT: 43,
  ENOTSUP: 45,
  EAFNOSUPPORT: 47,
  EADDRINUSE: 48,
  EADDRNOTAVAIL: 49,
  ENETDOWN: 50,
  ENETUNREACH: 51,
  ECONNRESET: 54,
  ENOBUFS: 55,
  ENOTCONN: 57,
  ETIMEDOUT: 60,
  ECONNREFUSED: 61,
  ENAMETOOLONG: 63,
  EHOSTUNREACH: 65,
  EOPNOTSUPP: 102,
};

/** The errno table for `os` (Linux numbering for anything but macOS). */
export function errnoTable(os: string = Deno.build.os): ErrnoTable {
  return os === "darwin" ? DARWIN_ERRNO : LINUX_ERRNO;
}

/** errno values of the running OS, e.g. `E.EAGAIN`. */
export const E: ErrnoTable = errnoTable();

const nameCache = new Map<string, Map<number, string>>();

/** The symbolic name of an errno value, e.g. `"EPERM"`, or `"E<number>"` when unknown. */
export function errnoName(code: number, os: string = Deno.build.os): string {
  let names = nameCache.get(os);
  if (names === undefined) {
    names = new Map();
    for (const [name, value] of Object.entries(errnoTable(os))) {
      if (!names.has(value)) names.set(value, name);
    }
    nameCache.set(os, names);
  }
  return names.get(code) ?? `E${code}`;
}

/** The C library's description of an errno value (`strerror`), or "" if unavailable. */
export function strerror(code: number): string {
  try {
    const p = libc().strerror(code);
    return p === null ? "" : new Deno.UnsafePointerView(p).getCString();
  } catch {
    return "";
  }
}

/**
 * A failed C library call.
 * @example
 * ```ts ignore
 * import { closeFd, SyscallError } from "./libc.ts";
 * try {
 *   closeFd(-1);
 * } catch (e) {
 *   if (e instanceof SyscallError) console.log(e.code); // "EBADF"
 * }
 * ```
 */
export class SyscallError extends Error {
  /** The call that failed, e.g. `"ioctl(TUNSETIFF)"`. */
  readonly syscall: string;
  /** The numeric errno. */
  readonly errno: number;
  /** The symbolic errno, e.g. `"EPERM"`. */
  readonly code: string;

  /**
   * Builds `"<syscall>: <CODE> (<strerror>)"`, plus `hint` after a semicolon when given.
   * `options.code` overrides the symbolic code (e.g. EACCES reported as `"EPERM"`).
   */
  constructor(
    syscall: string,
    errnoValue: number,
    hint?: string,
    options?: ErrorOptions & { code?: string },
  ) {
    const name = errnoName(errnoValue);
    const code = options?.code ?? name;
    const text = strerror(errnoValue);
    const base = `${syscall}: ${name}${text ? ` (${text})` : ""}`;
    super(hint ? `${base}; ${hint}` : base, options);
    this.name = "SyscallError";
    this.syscall = syscall;
    this.errno = errnoValue;
    this.code = code;
  }
}

/** Throws a {@linkcode SyscallError} for `what` when `result` is negative; reads errno first. */
function check(result: number, what: string): number {
  if (result < 0) throw new SyscallError(what, errno());
  return result;
}

/** True on macOS arm64, where variadic arguments go on the stack (see module doc). */
export const VARIADIC_ON_STACK: boolean = Deno.build.os === "darwin" &&
  Deno.build.arch === "aarch64";

const encoder = new TextEncoder();

/** open(2) without O_CREAT; returns the fd. @throws {SyscallError} */
export function openFd(path: string, flags: number): number {
  const cpath = encoder.encode(path + "\0");
  return check(libc().open(cpath, flags), `open(${path})`);
}

/** close(2). @throws {SyscallError} */
export function closeFd(fd: number): void {
  check(libc().close(fd), "close");
}

/** close(2), ignoring errors (cleanup paths). Returns true when the fd was closed. */
export function closeQuietly(fd: number): boolean {
  if (fd < 0) return false;
  return libc().close(fd) === 0;
}

/**
 * ioctl(2) with a pointer argument (the struct in `arg`, read and written by the kernel).
 * `what` names the request in errors, e.g. `"TUNSETIFF"`.
 * @throws {SyscallError} e.g. `ioctl(TUNSETIFF): EPERM (Operation not permitted)`
 */
export function ioctl(fd: number, request: bigint, arg: Uint8Array, what: string): number {
  const s = libc();
  const r = VARIADIC_ON_STACK
    ? s.ioctlStack(fd, request, 0n, 0n, 0n, 0n, 0n, 0n, arg)
    : s.ioctl(fd, request, arg);
  return check(r, `ioctl(${what})`);
}

/**
 * ioctl(2) with an integer argument passed by value (Linux), e.g. `TUNSETOFFLOAD`.
 * @throws {SyscallError} e.g. `ioctl(TUNSETOFFLOAD): EINVAL (Invalid argument)`; Error on
 * macOS arm64, whose variadic convention this shape does not follow.
 */
export function ioctlValue(fd: number, request: bigint, value: number, what: string): number {
  if (VARIADIC_ON_STACK) throw new Error("tcptun: ioctlValue is not available on this platform");
  return check(libc().ioctlValue(fd, request, BigInt(value >>> 0)), `ioctl(${what})`);
}

/** fcntl(2) with an int argument; returns the call's result. @throws {SyscallError} */
export function fcntl(fd: number, cmd: number, arg: number, what = "fcntl"): number {
  const s = libc();
  const r = VARIADIC_ON_STACK
    ? s.fcntlStack(fd, cmd, 0n, 0n, 0n, 0n, 0n, 0n, BigInt(arg))
    : s.fcntl(fd, cmd, arg);
  return check(r, what);
}

/** Linux fcntl commands for a pipe's capacity (fcntl(2)). */
const F_SETPIPE_SZ = 1031;
const F_GETPIPE_SZ = 1032;

/**
 * Makes the pipe on `fd` hold up to `bytes` (Linux `F_SETPIPE_SZ`), so that a reader gets large
 * chunks instead of one 64 KiB pipe buffer per read: reading a bulk `head -c … |` through a
 * 1 MiB pipe takes a third of the reads. Best effort: returns the new capacity, or -1 when `fd`
 * is no pipe, the system is not Linux, or the kernel refuses (e.g. above
 * /proc/sys/fs/pipe-max-size for an unprivileged user). Never throws.
 *
 * @example
 * ```ts ignore
 * import { growPipe } from "./libc.ts";
 * growPipe(0, 1 << 20); // stdin, when it is a pipe
 * ```
 */
export function growPipe(fd: number, bytes: number): number {
  if (Deno.build.os !== "linux") return -1;
  const s = libc();
  const current = s.fcntl(fd, F_GETPIPE_SZ, 0);
  if (current < 0) return -1;
  if (current >= bytes) return current;
  const r = s.fcntl(fd, F_SETPIPE_SZ, bytes);
  return r < 0 ? -1 : r;
}

/** socket(2); returns the fd. @throws {SyscallError} */
export function socket(domain: number, type: number, protocol: number): number {
  return check(libc().socket(domain, type, protocol), "socket");
}

/** socketpair(2); returns both fds. @throws {SyscallError} */
export function socketpair(domain: number, type: number, protocol: number): [number, number] {
  const sv = new Int32Array(2);
  check(libc().socketpair(domain, type, protocol, sv), "socketpair");
  return [sv[0], sv[1]];
}

/** connect(2) to the socket address in `addr`. @throws {SyscallError} */
export function connect(fd: number, addr: Uint8Array, what = "connect"): void {
  check(libc().connect(fd, addr, addr.byteLength), what);
}

/**
 * getsockopt(2) into `value`; returns the number of bytes the kernel wrote.
 * @throws {SyscallError}
 */
export function getsockopt(
  fd: number,
  level: number,
  name: number,
  value: Uint8Array,
  what = "getsockopt",
): number {
  const len = new Uint32Array([value.byteLength]);
  check(libc().getsockopt(fd, level, name, value, len), what);
  return len[0];
}

/** pipe(2); returns `[readFd, writeFd]`. @throws {SyscallError} */
export function pipe(): [number, number] {
  const fds = new Int32Array(2);
  check(libc().pipe(fds), "pipe");
  return [fds[0], fds[1]];
}

/** eventfd(2) (Linux); returns the fd. @throws {SyscallError} or Error where unavailable. */
export function eventfd(initval: number, flags: number): number {
  const fn = libc().eventfd;
  if (fn === null) throw new Error("tcptun: eventfd is not available on this system");
  return check(fn(initval, flags), "eventfd");
}

/** True when this C library has eventfd(2). */
export function hasEventfd(): boolean {
  return libc().eventfd !== null;
}

const SIZE_T_CACHE_LIMIT = 65536 + 64;
const sizeTCache: bigint[] = [];

/**
 * `len` as the `bigint` a `size_t` parameter takes, from a lazily filled table so that the
 * per-packet calls allocate no new BigInt once each length has been seen.
 */
function sizeT(len: number): bigint {
  if (len < SIZE_T_CACHE_LIMIT) return sizeTCache[len] ??= BigInt(len);
  return BigInt(len);
}

/**
 * read(2) of at most `len` bytes into `buf`, for the hot path: never throws.
 * @returns bytes read (0 = end of file), or `-errno` on failure.
 */
export function readFd(fd: number, buf: Uint8Array, len: number): number {
  const r = libc().read(fd, buf, sizeT(len));
  return r < 0 ? -errno() : r;
}

/**
 * write(2) of `len` bytes from the start of `buf`, for the hot path: never throws.
 * @returns bytes written, or `-errno` on failure.
 */
export function writeFd(fd: number, buf: Uint8Array, len: number): number {
  const r = libc().write(fd, buf, sizeT(len));
  return r < 0 ? -errno() : r;
}

/**
 * poll(2) with a zero timeout, on the JS thread: never throws, never blocks.
 * @returns the number of ready entries, or `-errno`.
 */
export function pollNow(pollfds: Uint8Array, nfds: number): number {
  const r = libc().pollSync(pollfds, sizeT(nfds), 0);
  return r < 0 ? -errno() : r;
}

/**
 * poll(2) on another thread (the `nonblocking` symbol). The `pollfd` array behind `fds` must
 * stay alive and unmoved until the promise settles: allocate it with an explicit
 * `ArrayBuffer` (`newPollfds` in layout.ts), keep a reference, and take its pointer once with
 * {@linkcode pointerOf}. errno is not readable here: a negative result means "look again"
 * (EINTR is not an error).
 * @param timeoutMs milliseconds; negative waits without limit.
 * @returns the number of ready entries, 0 on timeout, negative to look again.
 */
export function pollWait(fds: Deno.PointerValue, nfds: number, timeoutMs: number): Promise<number> {
  return libc().poll(fds, sizeT(nfds), pollTimeout(timeoutMs));
}

/** The address of a buffer's first byte, for {@linkcode pollWait}. */
export function pointerOf(buf: Uint8Array): Deno.PointerValue {
  return Deno.UnsafePointer.of(buf);
}

/** Converts a millisecond timeout to poll(2)'s `int`: negative → -1, fractions round up. */
export function pollTimeout(timeoutMs: number): number {
  if (!(timeoutMs >= 0)) return -1; // negative or NaN: infinite
  if (timeoutMs >= 0x7fffffff) return 0x7fffffff;
  return Math.ceil(timeoutMs);
}
