import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generatedSecretPath, MIN_SECRET_LENGTH, parseClients, resolveClients, SecretVerifier } from "../../src/secrets";

const OMS_SECRET = "oms-secret-0123456789abcdef";
const BIDDING_SECRET = "bidding-secret-0123456789";

describe("parseClients", () => {
  test("accepts valid clients", () => {
    expect(parseClients([{ name: "oms", secret: OMS_SECRET }, { name: "bidding.v2_x-1", secret: BIDDING_SECRET }], "s.json")).toEqual([
      { name: "oms", secret: OMS_SECRET, role: "integrator" },
      { name: "bidding.v2_x-1", secret: BIDDING_SECRET, role: "integrator" },
    ]);
  });

  test("the minimum secret length is 16", () => {
    expect(MIN_SECRET_LENGTH).toBe(16);
    expect(parseClients([{ name: "a", secret: "s".repeat(16) }], "s.json")).toHaveLength(1);
  });

  test.each<[string, unknown, string]>([
    ["not an array", { name: "oms", secret: OMS_SECRET }, "s.json: must be a non-empty JSON array"],
    ["empty array", [], "non-empty JSON array"],
    ["entry not an object", ["oms"], 'entry 1: "name"'],
    ["secret of 15 characters", [{ name: "oms", secret: "s".repeat(15) }], 'entry 1 (oms): "secret" must be at least 16'],
    ["secret with a space", [{ name: "oms", secret: "abcdefgh ijklmnopq" }], '(oms): "secret"'],
    ["secret not a string", [{ name: "oms", secret: 1234567890123456 }], '(oms): "secret"'],
    ["missing name", [{ secret: OMS_SECRET }], 'entry 1: "name"'],
    ["empty name", [{ name: "", secret: OMS_SECRET }], 'entry 1: "name"'],
    ["name with a space", [{ name: "o ms", secret: OMS_SECRET }], 'entry 1: "name"'],
    ["name with non-ASCII", [{ name: "客户", secret: OMS_SECRET }], 'entry 1: "name"'],
    ["name of 65 characters", [{ name: "n".repeat(65), secret: OMS_SECRET }], 'entry 1: "name"'],
    ["duplicate name", [{ name: "oms", secret: OMS_SECRET }, { name: "oms", secret: BIDDING_SECRET }], "entry 2: duplicate name oms"],
    ["duplicate secret", [{ name: "oms", secret: OMS_SECRET }, { name: "bidding", secret: OMS_SECRET }], "entry 2 (bidding): the same secret is given twice"],
    ["an unknown role", [{ name: "oms", secret: OMS_SECRET, role: "admin" }], 'entry 1 (oms): "role" must be one of integrator, auditor'],
  ])("rejects %s", (_name, value, fragment) => {
    expect(() => parseClients(value, "s.json")).toThrow(fragment);
  });

  test("a rejection never quotes the secret", () => {
    expect(() => parseClients([{ name: "oms", secret: OMS_SECRET }, { name: "b", secret: OMS_SECRET }], "s.json")).not.toThrow(OMS_SECRET);
  });
});

describe("SecretVerifier.identify", () => {
  const verifier = new SecretVerifier([
    { name: "oms", secret: OMS_SECRET, role: "integrator" },
    { name: "bidding", secret: BIDDING_SECRET, role: "auditor" },
  ]);

  test.each<[string, string | null, string | null]>([
    ["first client's secret", OMS_SECRET, "oms"],
    ["second client's secret", BIDDING_SECRET, "bidding"],
    ["wrong secret", "wrong-secret-0123456789abcdef", null],
    ["a prefix of a secret", OMS_SECRET.slice(0, 16), null],
    ["a secret with a trailing character", `${OMS_SECRET}x`, null],
    ["another case", OMS_SECRET.toUpperCase(), null],
    ["empty", "", null],
    ["null", null, null],
  ])("%s", (_name, secret, expected) => {
    expect(verifier.identify(secret)?.name ?? null).toBe(expected);
  });

  test("tells the role of the client behind the secret", () => {
    expect(verifier.identify(OMS_SECRET)).toEqual({ name: "oms", role: "integrator" });
    expect(verifier.identify(BIDDING_SECRET)).toEqual({ name: "bidding", role: "auditor" });
  });

  test("refuses to run without clients", () => {
    expect(() => new SecretVerifier([])).toThrow("at least one secret is required");
  });
});

describe("resolveClients", () => {
  const dir = mkdtempSync(join(tmpdir(), "secrets-test-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("the generated secret lives beside the database", () => {
    expect(generatedSecretPath("/data/opportunities.db")).toBe("/data/opportunities.db.secret");
  });

  test("nothing configured: generates a strong secret saved with mode 0600, reused on the next start", () => {
    const dbPath = join(dir, "fresh", "opportunities.db");
    const path = `${dbPath}.secret`;
    expect(existsSync(path)).toBe(false);

    const first = resolveClients({ dbPath });
    expect(first.source.kind).toBe("generated");
    if (first.source.kind !== "generated") return;
    expect(first.source.path).toBe(path);
    expect(first.source.secret).toMatch(/^[0-9a-f]{64}$/);
    expect(first.clients).toEqual([{ name: "default", secret: first.source.secret, role: "integrator" }]);
    expect(readFileSync(path, "utf8").trim()).toBe(first.source.secret);
    expect(statSync(path).mode & 0o777).toBe(0o600);

    const second = resolveClients({ dbPath });
    expect(second.source).toEqual({ kind: "saved", path });
    expect(second.clients).toEqual(first.clients);
  });

  test("two databases get different generated secrets", () => {
    const a = resolveClients({ dbPath: join(dir, "a.db") });
    const b = resolveClients({ dbPath: join(dir, "b.db") });
    expect(a.clients[0]?.secret).not.toBe(b.clients[0]?.secret);
  });

  test("INTERNAL_SECRET gives client default and writes no file", () => {
    const dbPath = join(dir, "env.db");
    expect(resolveClients({ envSecret: OMS_SECRET, dbPath })).toEqual({
      clients: [{ name: "default", secret: OMS_SECRET, role: "integrator" }],
      source: { kind: "env" },
    });
    expect(existsSync(`${dbPath}.secret`)).toBe(false);
  });

  test("an empty INTERNAL_SECRET counts as not configured", () => {
    expect(resolveClients({ envSecret: "", dbPath: join(dir, "empty-env.db") }).source.kind).toBe("generated");
  });

  test("a short INTERNAL_SECRET is refused", () => {
    expect(() => resolveClients({ envSecret: "short", dbPath: join(dir, "short.db") })).toThrow("INTERNAL_SECRET");
  });

  test("a secrets file wins over INTERNAL_SECRET", () => {
    const secretsFile = join(dir, "secrets.json");
    writeFileSync(secretsFile, JSON.stringify([{ name: "oms", secret: OMS_SECRET }, { name: "bidding", secret: BIDDING_SECRET, role: "auditor" }]));
    expect(resolveClients({ secretsFile, envSecret: "env-secret-0123456789abcdef", dbPath: join(dir, "file.db") })).toEqual({
      clients: [
        { name: "oms", secret: OMS_SECRET, role: "integrator" },
        { name: "bidding", secret: BIDDING_SECRET, role: "auditor" },
      ],
      source: { kind: "file", path: secretsFile },
    });
  });

  test("a missing secrets file throws naming it", () => {
    const secretsFile = join(dir, "missing.json");
    expect(() => resolveClients({ secretsFile, dbPath: join(dir, "x.db") })).toThrow(`secrets file ${secretsFile} cannot be read`);
  });

  test("a secrets file with bad JSON throws naming it, without quoting its text", () => {
    const secretsFile = join(dir, "bad.json");
    writeFileSync(secretsFile, `[{"name":"oms","secret":"${OMS_SECRET}"`);
    expect(() => resolveClients({ secretsFile, dbPath: join(dir, "x.db") })).toThrow(`secrets file ${secretsFile} is not valid JSON`);
    expect(() => resolveClients({ secretsFile, dbPath: join(dir, "x.db") })).not.toThrow(OMS_SECRET);
  });
});
