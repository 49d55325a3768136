import assert from "node:assert/strict";
import {
  closeFd,
  DARWIN_ERRNO,
  defaultLibcPath,
  E,
  errnoName,
  fcntl,
  growPipe,
  LINUX_ERRNO,
  openFd,
  pipe,
  pollTimeout,
  readFd,
  SyscallError,
  writeFd,
} from "./libc.ts";

Deno.test("libc: default library paths per OS", () => {
  assert.equal(defaultLibcPath("linux"), "libc.so.6");
  assert.equal(defaultLibcPath("darwin"), "libSystem.B.dylib");
  assert.equal(defaultLibcPath("windows"), undefined);
});

Deno.test("libc: errno names differ between Linux and macOS where the numbers do", () => {
  assert.equal(errnoName(11, "linux"), "EAGAIN");
  assert.equal(errnoName(35, "darwin"), "EAGAIN");
  assert.equal(errnoName(105, "linux"), "ENOBUFS");
  assert.equal(errnoName(55, "darwin"), "ENOBUFS");
  assert.equal(errnoName(1, "linux"), "EPERM");
  assert.equal(errnoName(9999, "linux"), "E9999");
  for (const table of [LINUX_ERRNO, DARWIN_ERRNO]) {
    const values = Object.values(table);
    assert.equal(new Set(values).size, values.length, "no two names share a number");
  }
});

Deno.test("libc: poll timeouts: negative is infinite, fractions round up, huge is clamped", () => {
  assert.equal(pollTimeout(-1), -1);
  assert.equal(pollTimeout(-0.5), -1);
  assert.equal(pollTimeout(Number.NaN), -1);
  assert.equal(pollTimeout(0), 0);
  assert.equal(pollTimeout(0.2), 1);
  assert.equal(pollTimeout(250), 250);
  assert.equal(pollTimeout(Number.POSITIVE_INFINITY), 0x7fffffff);
});

Deno.test("libc: a failed call throws SyscallError naming the call, errno and text", () => {
  try {
    closeFd(-1);
    assert.fail("close(-1) must fail");
  } catch (e) {
    assert.ok(e instanceof SyscallError);
    assert.ok(e instanceof Error);
    assert.equal(e.code, "EBADF");
    assert.equal(e.errno, E.EBADF);
    assert.equal(e.syscall, "close");
    assert.equal(e.message, "close: EBADF (Bad file descriptor)");
  }
  assert.throws(
    () => openFd("/nonexistent/tcptun", 0),
    (e: unknown) =>
      e instanceof SyscallError && e.code === "ENOENT" &&
      e.message.startsWith("open(/nonexistent/tcptun): ENOENT (No such file or directory)"),
  );
});

Deno.test("libc: hot-path read/write return -errno instead of throwing", () => {
  const [r, w] = pipe();
  try {
    fcntl(
      r,
      4, /* F_SETFL */
      fcntl(r, 3, /* F_GETFL */ 0) | (Deno.build.os === "darwin" ? 4 : 0o4000),
    );
    const buf = new Uint8Array(16);
    assert.equal(readFd(r, buf, buf.length), -E.EAGAIN, "empty non-blocking pipe: EAGAIN");
    assert.equal(writeFd(w, new Uint8Array([1, 2, 3]), 3), 3);
    assert.equal(readFd(r, buf.subarray(5), 11), 3, "a subarray is read at its own offset");
    assert.deepEqual([...buf.subarray(4, 9)], [0, 1, 2, 3, 0]);
    assert.equal(readFd(-1, buf, 1), -E.EBADF);
    assert.equal(writeFd(-1, buf, 1), -E.EBADF);
  } finally {
    closeFd(r);
    closeFd(w);
  }
});

Deno.test({
  name: "libc: growPipe makes a pipe hold 1 MiB, and leaves anything else alone",
  ignore: Deno.build.os !== "linux",
  fn: () => {
    const [r, w] = pipe();
    try {
      assert.equal(fcntl(r, 1032, /* F_GETPIPE_SZ */ 0), 65536, "a new pipe holds 64 KiB");
      assert.equal(growPipe(r, 1 << 20), 1 << 20);
      assert.equal(fcntl(w, 1032, 0), 1 << 20, "one pipe: both ends see the new size");
      assert.equal(growPipe(r, 4096), 1 << 20, "never shrunk");
    } finally {
      closeFd(r);
      closeFd(w);
    }
    const fd = openFd("/dev/null", 0);
    try {
      assert.equal(growPipe(fd, 1 << 20), -1, "not a pipe");
    } finally {
      closeFd(fd);
    }
  },
});
