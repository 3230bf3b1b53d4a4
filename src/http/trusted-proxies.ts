import { isIP } from "node:net";

/**
 * The client address behind a reverse proxy. `X-Forwarded-For` is believed only when the peer that sent the
 * request is one of the operator's own proxies (`--trusted-proxies`, CIDRs, none by default); then the client is
 * the right-most address in it that is not one of those proxies, since every entry left of that one was written
 * by whoever the client is and may be forged. Without trusted proxies the header is ignored.
 */
interface Range {
  /** 16 bytes: IPv4 addresses are kept as IPv4-mapped IPv6, so one comparison serves both. */
  bytes: Uint8Array;
  prefix: number;
}

function bytesOf(address: string): Uint8Array | null {
  const kind = isIP(address);
  if (kind === 4) {
    const bytes = new Uint8Array(16);
    bytes[10] = 0xff;
    bytes[11] = 0xff;
    address.split(".").forEach((part, index) => (bytes[12 + index] = Number(part)));
    return bytes;
  }
  if (kind !== 6) return null;
  const embedded = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (embedded) {
    const [a, b, c, d] = embedded[2]!.split(".").map(Number) as [number, number, number, number];
    address = `${embedded[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail = ""] = address.split("::") as [string, string?];
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === "" ? [] : tail.split(":");
  const groups = address.includes("::") ? [...headGroups, ...new Array(8 - headGroups.length - tailGroups.length).fill("0"), ...tailGroups] : headGroups;
  const bytes = new Uint8Array(16);
  groups.forEach((group, index) => {
    const value = parseInt(group, 16);
    bytes[index * 2] = value >> 8;
    bytes[index * 2 + 1] = value & 0xff;
  });
  return bytes;
}

function contains(range: Range, bytes: Uint8Array): boolean {
  let bits = range.prefix;
  for (let index = 0; bits > 0; index += 1, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((range.bytes[index]! & mask) !== (bytes[index]! & mask)) return false;
  }
  return true;
}

/** One CIDR (`10.0.0.0/8`, `fd00::/8`) or a single address; throws an Error saying what is wrong. */
function parseRange(text: string): Range {
  const [address = "", prefixText, extra] = text.trim().split("/");
  const bytes = bytesOf(address);
  if (bytes === null || extra !== undefined) throw new Error(`${JSON.stringify(text.trim())} is not an IP address or CIDR`);
  const v4 = isIP(address) === 4;
  const max = v4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= max)) throw new Error(`${JSON.stringify(text.trim())} has a prefix length outside 0-${max}`);
  return { bytes, prefix: v4 ? prefix + 96 : prefix };
}

export class TrustedProxies {
  static readonly NONE = new TrustedProxies([]);

  private constructor(private readonly ranges: readonly Range[]) {}

  /** A comma-separated list of CIDRs or addresses; "" or "none" for none. */
  static parse(text: string): TrustedProxies {
    const items = text.split(",").map((item) => item.trim()).filter((item) => item !== "");
    if (items.length === 1 && items[0]!.toLowerCase() === "none") return TrustedProxies.NONE;
    return new TrustedProxies(items.map(parseRange));
  }

  get size(): number {
    return this.ranges.length;
  }

  private trusts(address: string): boolean {
    const bytes = bytesOf(address);
    return bytes !== null && this.ranges.some((range) => contains(range, bytes));
  }

  /** The client's address: the peer, or for a trusted peer the right-most untrusted `X-Forwarded-For` entry. */
  clientAddress(peer: string, forwardedFor: string | null): string {
    if (this.ranges.length === 0 || forwardedFor === null || !this.trusts(peer)) return peer;
    const hops = forwardedFor.split(",").map((hop) => hop.trim());
    for (let index = hops.length - 1; index >= 0; index -= 1) {
      const hop = hops[index]!;
      if (hop === "") continue;
      // Bounded: it keys the throttle's table.
      if (!this.trusts(hop)) return hop.slice(0, 64);
    }
    // Every hop is one of ours: the request started inside; the left-most hop is the nearest thing to a client.
    return hops.find((hop) => hop !== "")?.slice(0, 64) ?? peer;
  }
}
