import { describe, expect, test } from "bun:test";
import { TrustedProxies } from "../../src/http/trusted-proxies";

describe("TrustedProxies.clientAddress", () => {
  const proxies = TrustedProxies.parse("10.0.0.0/8, 192.168.1.7, fd00::/8");

  test.each([
    ["an untrusted peer: the header is ignored", "203.0.113.9", "1.2.3.4", "203.0.113.9"],
    ["a trusted peer without the header", "10.1.2.3", null, "10.1.2.3"],
    ["a trusted peer: the right-most untrusted entry", "10.1.2.3", "6.6.6.6, 203.0.113.9", "203.0.113.9"],
    ["trusted hops are skipped from the right", "10.1.2.3", "6.6.6.6, 203.0.113.9, 192.168.1.7, 10.9.9.9", "203.0.113.9"],
    ["a single trusted address, not its neighbour", "192.168.1.7", "192.168.1.8", "192.168.1.8"],
    ["IPv6 ranges", "fd12::1", "2001:db8::5, fd00::9", "2001:db8::5"],
    ["an IPv4-mapped IPv6 peer is its IPv4 address", "::ffff:10.0.0.1", "203.0.113.9", "203.0.113.9"],
    ["every hop trusted: the left-most", "10.1.2.3", "10.0.0.9, 10.0.0.8", "10.0.0.9"],
    ["empty entries are passed over", "10.1.2.3", "203.0.113.9, , ", "203.0.113.9"],
  ])("%s", (_name, peer, header, expected) => {
    expect(proxies.clientAddress(peer, header)).toBe(expected);
  });

  test("none configured: always the peer", () => {
    expect(TrustedProxies.parse("").clientAddress("10.1.2.3", "203.0.113.9")).toBe("10.1.2.3");
    expect(TrustedProxies.parse("none").size).toBe(0);
  });

  test("a forged entry is bounded in length (it keys the throttle's table)", () => {
    expect(proxies.clientAddress("10.1.2.3", "x".repeat(500)).length).toBe(64);
  });
});

describe("TrustedProxies.parse", () => {
  test.each(["10.0.0.0/33", "fd00::/129", "10.0.0.300", "not-an-ip", "10.0.0.0/8/1", "10.0.0.0/x"])("refuses %p with a reason", (text) => {
    expect(() => TrustedProxies.parse(text)).toThrow(new RegExp(text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")));
  });

  test("/0 trusts everything of its family", () => {
    const all = TrustedProxies.parse("0.0.0.0/0");
    expect(all.clientAddress("203.0.113.9", "1.2.3.4, 5.6.7.8")).toBe("1.2.3.4");
  });
});
