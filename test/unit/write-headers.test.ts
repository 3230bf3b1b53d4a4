import { describe, expect, test } from "bun:test";
import { canonicalJson } from "../../events/canonical-json";
import { fingerprintOf, readIfMatch } from "../../src/http/write-headers";

// The write routes' optional headers, read in-process: If-Match's forms, and the idempotency fingerprint.

function ifMatch(header: string | null): { version: number | undefined; errors: string[] } {
  const headers = header === null ? undefined : { "if-match": header };
  const errors: string[] = [];
  const version = readIfMatch(new Request("http://localhost/api/opportunities/integration/update", { method: "PUT", headers }), errors);
  return { version, errors };
}

describe("readIfMatch", () => {
  test.each<[string, string | null, number | undefined]>([
    ["no header: no condition", null, undefined],
    ['"3"', '"3"', 3],
    ["3", "3", 3],
    ['W/"3" (our ETags are exact versions)', 'W/"3"', 3],
    ["surrounding spaces", '  "12"  ', 12],
    ["* (RFC 9110: the opportunity exists, which an update requires anyway): no version condition", "*", undefined],
    ["* with spaces", " * ", undefined],
  ])("%s", (_name, header, expected) => {
    expect(ifMatch(header)).toEqual({ version: expected, errors: [] });
  });

  test.each(['"3", "4"', '*, "3"', '"3", *', "*, *", "**", "W/*", '"*"', '"0"', "0", '"-1"', "v3", ""])("refused: %p", (header) => {
    const { version, errors } = ifMatch(header);
    expect(version).toBeUndefined();
    expect(errors).toEqual([`If-Match 必须是商机的一个版本号（读接口返回的 ETag，如 "3"）或 *（商机存在即可），收到: ${JSON.stringify(header)}`]);
  });
});

describe("fingerprintOf", () => {
  const body = { opportunityCode: "OPP-1", amount: 3 };
  const route = "/api/opportunities/integration/update";

  test("without a version it is the recipe keys were stored with before If-Match counted", () => {
    const before = new Bun.CryptoHasher("sha256").update(`PUT ${route}\n${canonicalJson(body)}`).digest("hex");
    expect(fingerprintOf("PUT", route, body)).toBe(before);
    expect(fingerprintOf("PUT", route, body, undefined)).toBe(before);
  });

  test("a version makes it another request; the same version is the same request", () => {
    const none = fingerprintOf("PUT", route, body);
    const three = fingerprintOf("PUT", route, body, 3);
    expect(three).not.toBe(none);
    expect(fingerprintOf("PUT", route, body, 4)).not.toBe(three);
    expect(fingerprintOf("PUT", route, { amount: 3, opportunityCode: "OPP-1" }, 3)).toBe(three);
  });
});
