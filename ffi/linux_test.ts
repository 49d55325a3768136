import assert from "node:assert/strict";
import {
  applyIpv6,
  companionAddress,
  companionAddress6,
  DEFAULT_TUN_IP6,
  findIpv6Conflict,
  IOC_READ,
  IOC_WRITE,
  ipv6ConfPath,
  linuxIoc,
  negotiateVnet,
  normalizeTunOptions,
  RTF_HOST,
  RTF_UP,
  SIOCADDRT,
  SIOCDIFADDR,
  SIOCGIFFLAGS,
  SIOCGIFINDEX,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUN_OFFLOADS_WANTED,
  tunAddress6,
  TUNGETVNETHDRSZ,
  TUNSETIFF,
  TUNSETOFFLOAD,
  TUNSETVNETHDRSZ,
} from "./linux.ts";
import { closeFd, ioctl, socket, socketpair, SyscallError } from "./libc.ts";
import { AF_INET, getIfreqFlags, getIfreqInt, newIfreq, readSockaddrIn } from "./layout.ts";
import { integrationRequired, netnsProblem, runInNetns, toolProblem } from "../tests/netns.ts";

Deno.test("linux: companion address is the last octet plus one, minus one at .255", () => {
  assert.equal(companionAddress("10.0.0.1"), "10.0.0.2");
  assert.equal(companionAddress("10.0.0.2"), "10.0.0.3");
  assert.equal(companionAddress("10.0.0.254"), "10.0.0.255");
  assert.equal(companionAddress("10.0.0.255"), "10.0.0.254");
  assert.equal(companionAddress("192.168.7.0"), "192.168.7.1");
  assert.throws(() => companionAddress("10.0.0"), TypeError);
});

Deno.test("linux: the IPv6 companion is the last byte plus one, minus one at 0xff", () => {
  assert.equal(DEFAULT_TUN_IP6, "fdac:1194:20dc::1");
  assert.equal(companionAddress6(DEFAULT_TUN_IP6), "fdac:1194:20dc::2");
  assert.equal(companionAddress6("fd00::1"), "fd00::2");
  assert.equal(companionAddress6("fd00::"), "fd00::1");
  assert.equal(companionAddress6("FD12:3456::00fe"), "fd12:3456::ff");
  assert.equal(companionAddress6("fd12:3456::ff"), "fd12:3456::fe");
  assert.equal(companionAddress6("2001:db8::1:ff"), "2001:db8::1:fe");
  assert.throws(() => companionAddress6("10.0.0.1"), TypeError);
});

Deno.test("linux: TUN IPv6 addresses must be unicast, and are reported canonically", () => {
  assert.equal(tunAddress6("FD00:0::0001", "tunIp6"), "fd00::1");
  assert.equal(tunAddress6("fe80::1", "tunIp6"), "fe80::1");
  for (const bad of ["::", "::1", "ff02::1", "::ffff:10.0.0.1", "fd00::1/128", "x"]) {
    assert.throws(() => tunAddress6(bad, "tunIp6"), TypeError, bad);
  }
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
  // linux/sockios.h and linux/route.h.
  assert.deepEqual([SIOCGIFINDEX, SIOCDIFADDR, SIOCADDRT], [0x8933n, 0x8936n, 0x890bn]);
  assert.deepEqual([RTF_UP, RTF_HOST], [1, 4]);
});

Deno.test("linux: per-interface IPv6 sysctl paths are checked", () => {
  assert.equal(ipv6ConfPath("tun0", "accept_dad"), "/proc/sys/net/ipv6/conf/tun0/accept_dad");
  assert.throws(() => ipv6ConfPath("../x", "accept_dad"), RangeError);
  assert.throws(() => ipv6ConfPath("tun0", "../../x"), RangeError);
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
    tunIp6: "fdac:1194:20dc::1",
    localIp6: "fdac:1194:20dc::2",
    ipv6Required: false,
    ipv6Problem: undefined,
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

Deno.test("linux: IPv6 options: explicit, companion, off, and the 1280-byte MTU floor", () => {
  const base = { tunIp: "10.0.0.1" };
  const given = normalizeTunOptions({ ...base, tunIp6: "FD12::10" });
  assert.deepEqual(
    [given.tunIp6, given.localIp6, given.ipv6Required, given.ipv6Problem],
    ["fd12::10", "fd12::11", true, undefined],
  );
  const pair = normalizeTunOptions({ ...base, tunIp6: "fd12::10", localIp6: "fd12::20" });
  assert.deepEqual([pair.tunIp6, pair.localIp6], ["fd12::10", "fd12::20"]);
  assert.equal(normalizeTunOptions({ ...base, localIp6: "fd00::9" }).ipv6Required, true);

  const off = normalizeTunOptions({ ...base, tunIp6: false });
  assert.deepEqual([off.tunIp6, off.localIp6, off.ipv6Problem], [undefined, undefined, undefined]);
  assert.throws(() => normalizeTunOptions({ ...base, tunIp6: false, localIp6: "fd00::2" }));

  const small = normalizeTunOptions({ ...base, mtu: 1279 });
  assert.deepEqual([small.tunIp6, small.localIp6], [undefined, undefined]);
  assert.match(small.ipv6Problem ?? "", /mtu 1279 is below IPv6's minimum link MTU of 1280/);
  assert.equal(normalizeTunOptions({ ...base, mtu: 1280 }).tunIp6, DEFAULT_TUN_IP6);
  assert.throws(() => normalizeTunOptions({ ...base, mtu: 1279, tunIp6: "fd00::1" }), RangeError);

  assert.throws(() => normalizeTunOptions({ ...base, tunIp6: "fd00::1", localIp6: "fd00::1" }));
  assert.throws(() => normalizeTunOptions({ ...base, tunIp6: "ff02::1" }), TypeError);
  assert.throws(() => normalizeTunOptions({ ...base, localIp6: "::1" }), TypeError);
  assert.throws(() => normalizeTunOptions({ ...base, tunIp6: "10.0.0.1" }), TypeError);
});

Deno.test("linux: a failing default IPv6 is reported, an explicit one thrown", () => {
  const refused = () => {
    throw new SyscallError("ioctl(SIOCSIFADDR AF_INET6)", 13);
  };
  const byDefault = normalizeTunOptions({ tunIp: "10.0.0.1" });
  const facts = applyIpv6(byDefault, refused);
  assert.equal(facts.tunIp6, undefined);
  assert.match(facts.ipv6Problem ?? "", /^ioctl\(SIOCSIFADDR AF_INET6\): EACCES/);
  assert.deepEqual(applyIpv6(byDefault, () => {}), {
    tunIp6: "fdac:1194:20dc::1",
    localIp6: "fdac:1194:20dc::2",
  });

  const explicit = normalizeTunOptions({ tunIp: "10.0.0.1", tunIp6: "fd00::1" });
  assert.throws(() => applyIpv6(explicit, refused), SyscallError);
  assert.throws(() => applyIpv6(byDefault, () => assert.fail("a bug")), /a bug/);

  let called = false;
  const off = normalizeTunOptions({ tunIp: "10.0.0.1", tunIp6: false });
  assert.deepEqual(applyIpv6(off, () => called = true), {});
  const small = normalizeTunOptions({ tunIp: "10.0.0.1", mtu: 1000 });
  assert.match(applyIpv6(small, () => called = true).ipv6Problem ?? "", /minimum link MTU/);
  assert.equal(called, false, "nothing is configured when IPv6 is off or left out");
});

Deno.test("linux: an IPv6 pair already addressed or routed in the namespace is a conflict", () => {
  const z = "0".repeat(32);
  const route = (dst: string, len: string, dev: string) =>
    `${dst} ${len} ${z} 00 ${z} 00000100 00000001 00000000 00000001 ${dev}`;
  // The layout of this very host: fd00::2/64 on eth0, IPv6 gateway fd00::1.
  const addresses = [
    "00000000000000000000000000000001 01 80 10 80       lo",
    "fd000000000000000000000000000002 04 40 00 82     eth0",
    "fe800000000000000000000000000005 07 40 20 80     tun0",
    "fdac119420dc00000000000000000002 07 80 00 80     tun0",
  ].join("\n");
  const routes = [
    route("fd000000000000000000000000000000", "40", "eth0"),
    route(z, "00", "eth0"), // the default route
    route("fe800000000000000000000000000000", "40", "eth0"),
    route("ff000000000000000000000000000000", "08", "eth0"),
    route("fdac119420dc00000000000000000002", "80", "tun0"),
  ].join("\n");
  const check = (local: string, peer: string) =>
    findIpv6Conflict("tun0", local, peer, addresses, routes);
  assert.equal(check("fd00::2", "fd00::1"), "fd00::2 is already an address of eth0");
  assert.equal(
    check("fd00:0:0:0:1::2", "fd00::1"),
    "fd00:0:0:0:1::2 is already routed here " +
      "(fd00::/64 dev eth0)",
  );
  assert.equal(check("fd01::2", "fd00::1"), "fd00::1 is already routed here (fd00::/64 dev eth0)");
  assert.equal(check("fdac:1194:20dc::2", "fdac:1194:20dc::1"), undefined, "own entries ignored");
  assert.equal(check("fd01::2", "fd01::1"), undefined, "default, link-local, multicast ignored");
  assert.equal(
    findIpv6Conflict("tun1", "fdac:1194:20dc::2", "fdac:1194:20dc::1", addresses, routes),
    "fdac:1194:20dc::2 is already an address of tun0",
    "a second device with the same pair",
  );
  assert.equal(
    findIpv6Conflict("tun1", "fd01::2", "fdac:1194:20dc::2", "", routes),
    "fdac:1194:20dc::2 is already routed here (fdac:1194:20dc::2/128 dev tun0)",
  );
  assert.equal(findIpv6Conflict("tun0", "fd00::2", "fd00::1", "garbage\n\n", "x y\n"), undefined);
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

      const index = newIfreq("linux", "lo");
      ioctl(sock, SIOCGIFINDEX, index, "SIOCGIFINDEX");
      const sysfs = Number(Deno.readTextFileSync("/sys/class/net/lo/ifindex").trim());
      assert.equal(getIfreqInt(index), sysfs, "ifr_ifindex is the int at offset 16");

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
  name:
    "linux tun: IPv6 configured by ioctls; ping -6 answered through the device; IPv4 too (netns)",
  ignore: problem !== undefined && !required,
  async fn() {
    if (problem !== undefined) throw new Error(`TUN integration precondition failed: ${problem}`);
    const ping = await toolProblem("ping", ["-V"]);
    if (ping !== undefined) throw new Error(`the IPv6 test needs ping (iputils): ${ping}`);
    const run = await runInNetns(script, ["ipv6"], { timeoutMs: 60_000 });
    assertRun(run);
    for (
      const step of [
        "openTun reports tunIp6 fdac:1194:20dc::1 and localIp6 fdac:1194:20dc::2 (offload false)",
        "the kernel has fdac:1194:20dc::2/128 (not tentative) and a route to fdac:1194:20dc::1",
        "the kernel sends nothing of its own into the device",
        "is read from the device (raw;",
        "is read from the device (vnet;",
        "ping -6 fdac:1194:20dc::1 succeeds",
        "a second device with the default pair stays IPv4-only",
        "IPv4 keeps working beside IPv6 (offload true)",
        "an explicit tunIp6/localIp6 pair is configured",
        "tunIp6: false leaves IPv6 disabled on the interface",
        "an MTU below 1280 leaves the default IPv6 out",
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
