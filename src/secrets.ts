import { randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/**
 * What a client may do: an `integrator` reads and writes, an `auditor` only reads (history, events, state
 * at a point), so an audit firm's secret can never change an opportunity.
 */
export const ROLES = ["integrator", "auditor"] as const;
export type Role = (typeof ROLES)[number];

/** A client system allowed to call the interface; its name is recorded as the actor of its events. */
export interface Client {
  name: string;
  secret: string;
  role: Role;
}

/** Who is calling: the client behind a matched secret (never the secret itself). */
export interface Identity {
  name: string;
  role: Role;
}

export const MIN_SECRET_LENGTH = 16;
const sha256 = (text: string) => new Bun.CryptoHasher("sha256").update(text).digest();

/**
 * Matches an `X-Internal-Secret` header against the configured clients in constant time. Only digests are
 * kept, and every client is compared on every call, so neither the length of a secret nor which client
 * matched shows in the time taken.
 */
export class SecretVerifier {
  private readonly digests: { identity: Identity; digest: Buffer }[];

  constructor(clients: readonly Client[]) {
    if (clients.length === 0) throw new Error("at least one secret is required");
    this.digests = clients.map((client) => ({ identity: { name: client.name, role: client.role }, digest: sha256(client.secret) }));
  }

  /** The client behind a secret, or null. */
  identify(secret: string | null): Identity | null {
    const digest = sha256(secret ?? "");
    let match: Identity | null = null;
    for (const client of this.digests) if (timingSafeEqual(client.digest, digest) && match === null) match = client.identity;
    return secret ? match : null;
  }
}

/** Checks the parsed content of a secrets file: `[{"name","secret","role"?}]`, role defaulting to integrator. */
export function parseClients(value: unknown, source: string): Client[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new Error(`${source}: must be a non-empty JSON array of {"name","secret"}`);
  }
  const names = new Set<string>();
  const secrets = new Set<string>();
  return value.map((entry, index) => {
    const where = `${source}: entry ${index + 1}`;
    const { name, secret, role = "integrator" } = (typeof entry === "object" && entry !== null ? entry : {}) as Record<string, unknown>;
    if (typeof name !== "string" || !/^[A-Za-z0-9._-]{1,64}$/.test(name)) {
      throw new Error(`${where}: "name" must be 1-64 letters, digits, '.', '_' or '-'`);
    }
    if (typeof secret !== "string" || secret.length < MIN_SECRET_LENGTH || /\s/.test(secret)) {
      throw new Error(`${where} (${name}): "secret" must be at least ${MIN_SECRET_LENGTH} characters without spaces`);
    }
    if (!(ROLES as readonly unknown[]).includes(role)) throw new Error(`${where} (${name}): "role" must be one of ${ROLES.join(", ")}`);
    if (names.has(name)) throw new Error(`${where}: duplicate name ${name}`);
    if (secrets.has(secret)) throw new Error(`${where} (${name}): the same secret is given twice`);
    names.add(name);
    secrets.add(secret);
    return { name, secret, role: role as Role };
  });
}

export function readSecretsFile(path: string): Client[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(`secrets file ${path} cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // The parser's message can quote the file's text, which holds secrets: say only where it broke.
    throw new Error(`secrets file ${path} is not valid JSON`);
  }
  return parseClients(parsed, `secrets file ${path}`);
}

/** The file's permission bits (e.g. "0644") when users other than its owner may read or write it, else null. */
export function secretFileExposure(path: string): string | null {
  try {
    const mode = statSync(path).mode & 0o777;
    return (mode & 0o077) === 0 ? null : `0${mode.toString(8)}`;
  } catch {
    return null;
  }
}

export type SecretSource =
  | { kind: "file"; path: string }
  | { kind: "env" }
  | { kind: "generated"; path: string; secret: string }
  | { kind: "saved"; path: string };

/** The secret saved beside a database when none was configured. */
export const generatedSecretPath = (dbPath: string) => `${dbPath}.secret`;

/**
 * Resolves the clients: a secrets file, else INTERNAL_SECRET as client `default`, else a secret saved beside
 * the database by an earlier start, else a new strong secret saved there with mode 0600. The service never
 * runs without a secret.
 */
export function resolveClients(options: { secretsFile?: string; envSecret?: string; dbPath: string }): { clients: Client[]; source: SecretSource } {
  if (options.secretsFile) return { clients: readSecretsFile(options.secretsFile), source: { kind: "file", path: options.secretsFile } };
  if (options.envSecret !== undefined && options.envSecret !== "") {
    const [client] = parseClients([{ name: "default", secret: options.envSecret }], "INTERNAL_SECRET");
    return { clients: [client!], source: { kind: "env" } };
  }
  const path = generatedSecretPath(options.dbPath);
  if (existsSync(path)) {
    const secret = readFileSync(path, "utf8").trim();
    const [client] = parseClients([{ name: "default", secret }], `saved secret ${path}`);
    return { clients: [client!], source: { kind: "saved", path } };
  }
  const secret = randomBytes(32).toString("hex");
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${secret}\n`, { mode: 0o600, flag: "wx" });
  chmodSync(path, 0o600);
  return { clients: [{ name: "default", secret, role: "integrator" }], source: { kind: "generated", path, secret } };
}
