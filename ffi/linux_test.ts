import assert from "node:assert/strict";
import {
  companionAddress,
  IOC_READ,
  IOC_WRITE,
  linuxIoc,
  negotiateVnet,
  normalizeTunOptions,
  SIOCGIFFLAGS,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUN_OFFLOADS_WANTED,
  TUNGETVNETHDRSZ,
  TUNSETIFF,
  TUNSETOFFLOAD,
  TUNSETVNETHDRSZ,
} from "./linux.ts";
import { closeFd, ioctl, socket, socketpair, SyscallError } from "./libc.ts";
import { AF_INET, getIfreqFlags, getIfreqInt, newIfreq, readSockaddrIn } from "./layout.ts";
import { integrationRequired, netnsProblem, runInNetns } from "../tests/netns.ts";

Deno.test("linux: companion address is the last octet plus one, minus one at .255", () => {
  assert.equal(companionAddress("10.0.0.1"), "10.0.0.2");
  assert.equal(companionAddress("10.0.0.2"), "10.0.0.3");
  assert.equal(companionAddress("10.0.0.254"), "10.0.0.255");
  assert.equal(companionAddress("10.0.0.255"), "10.0.0.254");
  assert.equal(companionAddress("192.168.7.0"), "192.168.7.1");
  assert.throws(() => companionAddress("10.0.0"), TypeError);
});

Deno.test("linux: ioctl numbers follow the _IOC encoding", () => {
  assert.equal(TUNSETIFF, 0x400454can);
  assert.equal(linuxIoc(IOC_READ, "T", 210, 4), 0x800454d2n); // TUNGETFEATURES
  assert.equal(linuxIoc(IOC_WRITE | IOC_READ, "T", 0, 0), 0xc0005400n);
  // linux/if_tun.h, as <sys/ioctl.h> expands them on x86-64 and arm64.
  assert.equal(TUNSETOFFLOAD, 0x400454d0n);
  assert.equal(TUNGETVNETHDRSZ, 0x800454d7n);
  assert.equal(TUNSETVNETHDRSZ, 0x400454d8n);
  assert.deepEqual([TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_OFFLOADS_WANTED], [1, 2, 4, 7]);
});

Deno.test({
  name: "linux: negotiateVnet on an fd that is not a TUN reports the vnet header unusable",
  ignore: Deno.build.os !== "linux",
  fn() {
    const [a, b] = socketpair(1, /* AF_UNIX */ SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    try {
      assert.equal(negotiateVnet(a, TUN_OFFLOADS_WANTED), undefined); // ENOTTY
    } finally {
      closeFd(a);
      closeFd(b);
    }
  },
});

Deno.test("linux: tun options are validated and defaulted", () => {
  assert.deepEqual(normalizeTunOptions({ tunIp: "10.0.0.1" }), {
    tunIp: "10.0.0.1",
    ifname: "",
    mtu: 1500,
    offload: false,
    localIp: "10.0.0.2",
  });
  assert.equal(normalizeTunOptions({ tunIp: "10.0.0.1", offload: true }).offload, true);
  assert.throws(
    () => normalizeTunOptions({ tunIp: "10.0.0.1", ifname: "a".repeat(16) }),
    RangeError,
  );
  assert.throws(() => normalizeTunOptions({ tunIp: "10.0.0.1", mtu: 67 }), RangeError);
  assert.throws(() => normalizeTunOptions({ tunIp: "10.0.0.1", mtu: 65536 }), RangeError);
  assert.throws(() => normalizeTunOptions({ tunIp: "10.0.0.1", mtu: 1500.5 }), RangeError);
  assert.throws(() => normalizeTunOptions({ tunIp: "300.0.0.1" }), TypeError);
});

Deno.test({
  name: "linux: ifreq and sockaddr_in layouts agree with the kernel (read-only ioctls on lo)",
  ignore: Deno.build.os !== "linux",
  fn() {
    const sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    try {
      const ifr = newIfreq("linux", "lo");
      ioctl(sock, SIOCGIFFLAGS, ifr, "SIOCGIFFLAGS");
      assert.ok((getIfreqFlags(ifr) & 0x8) !== 0, "IFF_LOOPBACK is set on lo");

      const mtu = newIfreq("linux", "lo");
      ioctl(sock, 0x8921n, /* SIOCGIFMTU */ mtu, "SIOCGIFMTU");
      assert.ok(getIfreqInt(mtu) >= 1500, `lo mtu ${getIfreqInt(mtu)}`);

      const addr = newIfreq("linux", "lo");
      try {
        ioctl(sock, 0x8915n, /* SIOCGIFADDR */ addr, "SIOCGIFADDR");
        const sa = readSockaddrIn("linux", addr, 16);
        assert.equal(sa.family, AF_INET);
        assert.equal(sa.addr >>> 24, 127, "lo has a 127/8 address");
      } catch (e) {
        // lo without an IPv4 address (down) is EADDRNOTAVAIL: the layout check above still ran.
        if (!(e instanceof SyscallError && e.code === "EADDRNOTAVAIL")) throw e;
      }

      assert.throws(
        () => ioctl(sock, SIOCGIFFLAGS, newIfreq("linux", "nonexistent0"), "SIOCGIFFLAGS"),
        (e: unknown) =>
          e instanceof SyscallError && e.code === "ENODEV" &&
          e.message === "ioctl(SIOCGIFFLAGS): ENODEV (No such device)",
      );
    } finally {
      closeFd(sock);
    }
  },
});

const problem = await netnsProblem();
const required = integrationRequired();
if (problem !== undefined && !required) {
  console.warn(
    `skipping TUN integration tests: ${problem} (TCPTUN_REQUIRE_INTEGRATION=1 fails instead)`,
  );
}
const script = new URL("./testdata/tun_netns.ts", import.meta.url);

function assertRun(run: { code: number; timedOut: boolean; stdout: string; stderr: string }) {
  assert.ok(
    run.code === 0 && !run.timedOut,
    `exit ${run.code}${run.timedOut ? " (timed out)" : ""}\n${run.stdout}\n${run.stderr}`,
  );
}

Deno.test({
  name: "linux tun: open, configure, read from the kernel, write to it, wake and close (netns)",
  ignore: problem !== undefined && !required,
  async fn() {
    if (problem !== undefined) throw new Error(`TUN integration precondition failed: ${problem}`);
    const run = await runInNetns(script, ["all"], { timeoutMs: 60_000 });
    assertRun(run);
    for (
      const step of [
        "interface is up",
        "is read from the device",
        "reaches a kernel socket",
        "wake() ends a pending wait",
        "close() ends a pending wait",
      ]
    ) {
      assert.ok(run.stdout.includes(step), `missing check "${step}":\n${run.stdout}`);
    }
  },
});

Deno.test({
  name: "linux tun: without CAP_NET_ADMIN openTun fails with code EPERM and a hint (netns)",
  ignore: problem !== undefined && !required,
  async fn() {
    if (problem !== undefined) throw new Error(`TUN integration precondition failed: ${problem}`);
    const run = await runInNetns(script, ["eperm"], {
      timeoutMs: 60_000,
      prefix: ["setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin"],
    });
    assertRun(run);
    assert.match(run.stdout, /ok without CAP_NET_ADMIN/);
  },
});
