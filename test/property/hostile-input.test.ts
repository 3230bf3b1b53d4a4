/**
 * "Nothing lost", item 5 (A): hostile and random input against the HTTP app. Whatever arrives, the answer is
 * the envelope `{code:"0"|"-1", msg, data}` as `application/json;charset=UTF-8`, never HTTP 500, nothing
 * throws, and a failure leaves the store exactly as it was (events count and every projection row).
 *
 * Known failures (bugs in the source, kept failing on purpose; see the comment above each property):
 * - "raw request paths" (malformed percent-escapes in a path answer HTTP 500),
 * - "64-bit IDs are kept exactly or refused" (a non-integer spelling of a large integer is rounded),
 * - "accepted odd Unicode keeps the store verifiable" (lone surrogates are stored differently from the event).
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { verifyBackend } from "../support/test-backend";
import { AUDITOR_SECRET, OTHER_CLIENT_SECRET, TEST_SECRET, startBackendService, type BackendService } from "../support/test-service";
import { CONTRACT_FIELDS, CREATE_PATH, UPDATE_PATH, readPath, send, snapshot, type SendOptions, type StoreSnapshot } from "../http/http-client";
import {
  BODY_LIMIT,
  FIELD_KINDS,
  FIELD_NAMES,
  JsonPairs,
  RawJson,
  check,
  expectEnvelope,
  fcOptions,
  headersAccept,
  jsonText,
  maxLengthOf,
  validValue,
  type Envelope,
  type FieldName,
} from "./property-support";
import { DEFAULT_STAGES } from "../../src/stage-dictionary";

// Opportunities created before each property, so that updates can hit real codes.
const SEEDED = ["OPP-SEED-001", "OPP-SEED-002", "OPP-种子-003"] as const;
const NEW_CODES = ["OPP-NEW-001", "OPP-NEW-002"] as const;
const SECRETS = [TEST_SECRET, OTHER_CLIENT_SECRET, AUDITOR_SECRET] as const;
const INTEGRATOR_SECRETS: readonly string[] = [TEST_SECRET, OTHER_CLIENT_SECRET];

async function seed(service: BackendService): Promise<void> {
  for (const [index, code] of SEEDED.entries()) {
    const body = { opportunityCode: code, opportunityName: `种子商机 ${index}`, endCustomerName: "某市大数据局", amount: 1000 + index, stage: "solution" };
    const envelope = await expectEnvelope(await send(service, "POST", CREATE_PATH, { body }), `seed ${code}`);
    expect(envelope.code).toBe("0");
  }
}

let service: BackendService;
beforeEach(async () => {
  service = await startBackendService();
  await seed(service);
});
afterEach(() => service.dispose());

// ---------------------------------------------------------------------------------------------------------
// Sending one request and checking what every answer must satisfy

interface HostileRequest {
  method: string;
  path: string;
  /** The exact body text or bytes. */
  body?: string | Uint8Array;
  /** Default application/json when there is a body; null leaves the header out. */
  contentType?: string | null;
  /** Default TEST_SECRET; null leaves the header out. */
  secret?: string | null;
  headers?: Record<string, string>;
}

const describeRequest = (request: HostileRequest) => {
  const body = typeof request.body === "string" ? request.body : request.body === undefined ? "" : `<${request.body.byteLength} bytes>`;
  const shown = body.length > 160 ? `${body.slice(0, 160)}…(${body.length} chars)` : body;
  return `${request.method} ${request.path.slice(0, 200)} content-type=${JSON.stringify(request.contentType)} body=${JSON.stringify(shown)}`;
};

interface Outcome {
  envelope: Envelope;
  before: StoreSnapshot;
  after: StoreSnapshot;
}

/** Sends one request, checks the envelope, and that a failure (or any read) left the store unchanged. */
async function sendChecked(request: HostileRequest): Promise<Outcome> {
  const before = await snapshot(service);
  const options: SendOptions = { contentType: request.contentType, secret: request.secret, headers: request.headers };
  if (request.body !== undefined) options.rawBody = request.body;
  // app.handle must answer, never reject: a throw here fails the property with this request.
  const response = await send(service, request.method, request.path, options);
  const envelope = await expectEnvelope(response, describeRequest(request));
  const after = await snapshot(service);
  if (envelope.code === "-1" || request.method === "GET") {
    expect(after).toEqual(before);
  } else {
    // A success answers the opportunity's id and appends at most one event.
    check(typeof envelope.data === "number" && Number.isInteger(envelope.data) && envelope.data > 0, `success data is not an id: ${describeRequest(request)}`);
    expect(after.events - before.events).toBeLessThanOrEqual(1);
  }
  return { envelope, before, after };
}

// ---------------------------------------------------------------------------------------------------------
// Arbitraries of hostile values

/** Odd Unicode: lone surrogates (escaped by JSON.stringify), RTL overrides, emoji, NUL, BOM, line separators. */
const ODD_PIECES = [
  "\ud800",
  "\udfff",
  "\udc00\ud800",
  "\u202e",
  "\u200f\u202b",
  "\u0000",
  "😀",
  "👨‍👩‍👧",
  "\ufeff",
  "\u3000",
  "中文",
  "é",
  "\u0085",
  "\u2028",
  "\\",
  '"',
  "\r\n",
  "%00",
  "'; DROP TABLE events; --",
  "<script>",
  "${x}",
];

const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.oneof(fc.constantFrom(...ODD_PIECES), fc.string({ maxLength: 5 }), fc.string({ unit: "binary", maxLength: 3 })), { maxLength: 8 }).map((parts) => parts.join("")) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 20 }) },
  { weight: 1, arbitrary: fc.constantFrom("", " ", "null", "true", "0", "-1", "A", "won", "OPP-SEED-001") },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom("a", "中", "😀", "\ud800", " "), fc.integer({ min: 60, max: 3000 })).map(([piece, count]) => piece.repeat(count)) },
);

/** Number literals at the edges, written as is (JSON.stringify could not write -0, 1e-320 or 2^63). */
const EDGE_NUMBERS = [
  "1e308",
  "-1e308",
  "1e309",
  "-0",
  "0",
  "-1",
  "9007199254740993",
  "9223372036854775807",
  "9223372036854775808",
  "-9223372036854775808",
  "-9223372036854775809",
  "18446744073709551616",
  "123456789012345678901234567890",
  "1e-320",
  "5e-324",
  "0.1",
  "1.5",
  "1e13",
  "10000000000000.01",
  "946684800000",
  "4102444800000",
  "1E2",
  "-0.0",
];
const edgeNumber = fc.constantFrom(...EDGE_NUMBERS).map((text) => new RawJson(text));

/** A valid value of a random field (so random bodies sometimes get through and change something). */
const validAny: fc.Arbitrary<unknown> = fc.constantFrom(...FIELD_NAMES).chain((field) => validValue(field).map((sent) => sent.raw));

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  hostileString,
  edgeNumber,
  fc.constantFrom(null, true, false, [], {}),
  validAny,
);

const hostileKey: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      ...CONTRACT_FIELDS,
      "endCustomerName",
      "customerName",
      "finalCustomer",
      "endCustomerId",
      "end_customer_name",
      "__proto__",
      "constructor",
      "prototype",
      "toString",
      "OpportunityCode",
      " opportunityCode",
      "opportunityCode\u0000",
      "amount\u200f",
    ),
  },
  { weight: 1, arbitrary: hostileString },
);

const codeValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(...SEEDED, ...NEW_CODES),
  fc.constantFrom(...SEEDED).map((code) => ` ${code}\t`),
  hostileValue,
);

/** Objects that mix the contract's field names with values of any type, keys repeated now and then. */
const mixedObject: fc.Arbitrary<JsonPairs> = fc
  .tuple(fc.option(codeValue, { nil: undefined }), fc.array(fc.tuple(hostileKey, hostileValue), { maxLength: 8 }), fc.boolean())
  .map(([code, pairs, withCreateFields]) => {
    const head: [string, unknown][] = code === undefined ? [] : [["opportunityCode", code]];
    const create: [string, unknown][] = withCreateFields ? [["opportunityName", "随机商机"], ["endCustomerName", "某客户"]] : [];
    return new JsonPairs([...head, ...create, ...pairs]);
  });

const writeRoute = fc.constantFrom({ method: "PUT", path: UPDATE_PATH }, { method: "POST", path: CREATE_PATH });

// ---------------------------------------------------------------------------------------------------------

describe("A. hostile input: always the envelope, never 500, a failure stores nothing", () => {
  test(
    "random JSON values and objects mixing field names with values of any type",
    async () => {
      await fc.assert(
        fc.asyncProperty(writeRoute, fc.oneof(fc.jsonValue(), mixedObject), fc.constantFrom(TEST_SECRET, OTHER_CLIENT_SECRET), async (route, body, secret) => {
          await sendChecked({ ...route, body: jsonText(body), secret });
        }),
        fcOptions(800),
      );
    },
    20_000,
  );

  /** A value of the wrong type (or outside its rule) for each field. */
  function wrongValue(field: FieldName): fc.Arbitrary<unknown> {
    const notString = fc.oneof(fc.integer(), fc.boolean(), fc.array(fc.string(), { maxLength: 2 }), fc.dictionary(fc.string({ maxLength: 3 }), fc.string(), { maxKeys: 2 }), edgeNumber);
    const structures = fc.oneof(fc.array(fc.jsonValue(), { maxLength: 2 }), fc.dictionary(fc.string({ maxLength: 3 }), fc.jsonValue(), { maxKeys: 2 }));
    const tooLong = fc.constantFrom("中", "a", "😀").map((piece) => ` ${piece.repeat(maxLengthOf(field) + 1)} `);
    const stageKnown = new Set(DEFAULT_STAGES.flatMap((stage) => [stage.code, stage.label]));
    switch (FIELD_KINDS[field]) {
      case "requiredText":
        return fc.oneof(notString, tooLong, fc.constantFrom("", "  ", "\t"));
      case "optionalText":
        return fc.oneof(notString, tooLong);
      case "amount":
        return fc.oneof(
          fc.string(),
          fc.constantFrom("100", "1e3", " 5 "),
          fc.boolean(),
          structures,
          fc.constantFrom("0", "-0", "-1", "-1e-320", "0.0", "1e309", "-1e309", "10000000000000.01", "1e14", "9223372036854775808").map((text) => new RawJson(text)),
        );
      case "id":
        return fc.oneof(
          fc.boolean(),
          structures,
          fc.constantFrom("abc", "", " ", "1.5", "-5", "0", "1e3", "0x10", "9223372036854775808", "１２"),
          fc.constantFrom("0", "-0", "-1", "1.5", "1e-320", "9223372036854775808", "18446744073709551616", "1e308", "-9223372036854775808").map((text) => new RawJson(text)),
        );
      case "boolean":
        return fc.oneof(fc.constantFrom("true", "false", "yes", "", "1", "0"), fc.constantFrom(0, 1, -1), structures);
      case "date":
        return fc.oneof(
          fc.integer(),
          fc.boolean(),
          structures,
          fc.constantFrom("2026-02-30", "2026/04/30", "20260430", "2026-4-30", "", "2026-04-30T00:00:00", "2026-13-01", "2026-00-10", "0000-00-00", "2023-02-29", "２０２６-04-30", "2026-04-30\u0000"),
        );
      case "dateTime":
        return fc.oneof(
          fc.boolean(),
          structures,
          fc.constantFrom("", "yesterday", "2026-02-30 10:00:00", "2026-04-30 24:00:00", "2026-04-30T10:20:30+24:00", "2026-04-30T10:60:00", "1714443630", "99999999999999"),
          fc.constantFrom("0", "-1", "1e308", "946684799999", "4102444800000", "1714443630000.5", "-0").map((text) => new RawJson(text)),
        );
      case "confidence":
        return fc.oneof(fc.constantFrom("D", "AB", "", "A+", "１", "Ａ"), fc.integer(), fc.boolean(), structures).filter((value) => !(typeof value === "string" && ["A", "B", "C"].includes(value.trim().toUpperCase())));
      case "stage":
        return fc.oneof(hostileString, fc.integer(), fc.boolean(), structures).filter((value) => !(typeof value === "string" && stageKnown.has(value.trim())));
      case "status":
        return fc.oneof(hostileString, fc.constantFrom("pending", "ACTIVE ", "done"), fc.integer(), structures).filter(
          (value) => !(typeof value === "string" && ["active", "closed", "won", "lost"].includes(value.trim().toLowerCase())),
        );
    }
  }

  test(
    "one wrong-typed or out-of-rule field among valid ones is refused with HTTP 200 and stores nothing",
    async () => {
      const body = fc
        .constantFrom(...FIELD_NAMES)
        .chain((field) =>
          fc.tuple(
            fc.constant(field),
            wrongValue(field),
            fc.uniqueArray(fc.constantFrom(...FIELD_NAMES.filter((name) => name !== field && name !== "opportunityName")).chain((name) => validValue(name).map((sent) => [name, sent.raw] as const)), {
              selector: ([name]) => name,
              maxLength: 4,
            }),
          ),
        );
      await fc.assert(
        fc.asyncProperty(body, fc.boolean(), fc.constantFrom(...SEEDED), async ([field, wrong, valid], create, seeded) => {
          const pairs: (readonly [string, unknown])[] = create
            ? [["opportunityCode", NEW_CODES[0]], ["endCustomerName", "某客户"], ["opportunityName", "新商机"], ...valid]
            : [["opportunityCode", seeded], ...valid];
          pairs.push([field, wrong]);
          const request = create ? { method: "POST", path: CREATE_PATH } : { method: "PUT", path: UPDATE_PATH };
          const { envelope } = await sendChecked({ ...request, body: jsonText(new JsonPairs(pairs)) });
          const what = `${field}=${jsonText(wrong).slice(0, 80)}: ${envelope.msg.slice(0, 200)}`;
          check(envelope.status === 200 && envelope.code === "-1", `a wrong value was not refused with HTTP 200: ${what}`);
          // Messages name the field; the contract's own two (and status, in their style) name it in Chinese.
          const named = { confidencePct: "项目把握度仅支持A、B、C", stage: "项目阶段无效", status: "商机状态无效" }[field as string] ?? field;
          check(envelope.msg.includes(named), `message does not name the field: ${what}`);
        }),
        fcOptions(600),
      );
    },
    20_000,
  );

  /*
   * REGRESSION (a bug found here once, since fixed; the test keeps it away). DESIGN.md: 64-bit IDs must be kept exact end to end. A JSON number
   * that is mathematically an integer beyond 2^53 but not written as a plain integer literal (a trailing
   * ".0", an exponent) is parsed as a double, passes `Number.isInteger`, and is stored rounded, answered as a
   * success. The reviver in events/exact-json.ts only keeps /^-?\d+$/ sources exact.
   * Minimal counterexample: PUT {"opportunityCode":"OPP-SEED-001","preSalesId":9007199254740993.0}
   *   -> {"code":"0",...}, and GET answers "preSalesId":9007199254740992 (also 9007199254740993e0).
   */
  test(
    "64-bit IDs are kept exactly or refused, however the number is spelled",
    async () => {
      const spelled = fc
        .tuple(fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }), fc.constantFrom("plain", "dot0", "exp0", "shifted"))
        .map(([id, form]) => {
          const digits = id.toString();
          const text =
            form === "plain" ? digits : form === "dot0" ? `${digits}.0` : form === "exp0" ? `${digits}e0` : `${digits.slice(0, 1)}.${digits.slice(1) || "0"}e${digits.length - 1}`;
          return { id, text };
        });
      await fc.assert(
        fc.asyncProperty(spelled, fc.constantFrom("salesExpansionId", "channelExpansionId", "preSalesId"), fc.constantFrom(...SEEDED), async ({ id, text }, field, code) => {
          const body = `{"opportunityCode":${JSON.stringify(code)},${JSON.stringify(field)}:${text}}`;
          const { envelope } = await sendChecked({ method: "PUT", path: UPDATE_PATH, body });
          if (envelope.code !== "0") return;
          const read = await expectEnvelope(await send(service, "GET", readPath(code)), `GET ${code}`);
          const stored = (read.data as Record<string, unknown>)[field];
          check(BigInt(stored as number | bigint) === id, `${field} sent as ${text} was accepted but stored as ${String(stored)}`);
        }),
        fcOptions(150),
      );
    },
    20_000,
  );

  test(
    "bodies near and over the 64 KiB limit: 413 exactly when too large, else an envelope; whitespace-padded valid bodies up to the limit succeed",
    async () => {
      const sizes = fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: -64, max: 64 }) },
        { weight: 2, arbitrary: fc.constantFrom(-1, 0, 1) },
        { weight: 2, arbitrary: fc.integer({ min: -4000, max: 4000 }) },
        { weight: 1, arbitrary: fc.constantFrom(BODY_LIMIT, 8 * 1024 * 1024 + 1) },
      );
      const shape = fc.record({
        delta: sizes,
        where: fc.constantFrom("whitespace", "description", "unknownField", "opportunityCode"),
        fill: fc.constantFrom("a", "中", "😀", "é", "\\u0000"),
        create: fc.boolean(),
        declareLength: fc.boolean(),
      });
      await fc.assert(
        fc.asyncProperty(shape, async ({ delta, where, fill, create, declareLength }) => {
          const size = BODY_LIMIT + delta;
          const head = create ? `{"opportunityCode":"${NEW_CODES[1]}","opportunityName":"大商机","endCustomerName":"某客户"` : `{"opportunityCode":"${SEEDED[0]}"`;
          let body: string;
          if (where === "whitespace") {
            // A valid body made large by JSON whitespace alone.
            const base = `${head},"description":"大请求 ${delta}"}`;
            body = base + " ".repeat(Math.max(0, size - Buffer.byteLength(base)));
          } else {
            const key = where === "unknownField" ? "padding" : where;
            const open = where === "opportunityCode" ? `{"opportunityCode":"` : `${head},"${key}":"`;
            const close = `"}`;
            const room = Math.max(0, size - Buffer.byteLength(open) - Buffer.byteLength(close));
            const pieceBytes = Buffer.byteLength(fill);
            const text = fill.repeat(Math.floor(room / pieceBytes)) + "a".repeat(room % pieceBytes);
            body = open + text + close;
          }
          const bytes = Buffer.byteLength(body);
          const headers: Record<string, string> = declareLength ? { "content-length": String(bytes) } : {};
          const { envelope } = await sendChecked({ method: create ? "POST" : "PUT", path: create ? CREATE_PATH : UPDATE_PATH, body, headers });
          const what = `${bytes} bytes (${where}, fill ${fill}): HTTP ${envelope.status} ${envelope.msg.slice(0, 100)}`;
          if (bytes > BODY_LIMIT) check(envelope.status === 413, `too large but not 413: ${what}`);
          else check(envelope.status !== 413, `within the limit but 413: ${what}`);
          if (where === "whitespace" && bytes <= BODY_LIMIT && !create) check(envelope.code === "0", `a valid body within the limit failed: ${what}`);
        }),
        fcOptions(150),
      );
    },
    20_000,
  );

  test(
    "deeply nested bodies (thousands of levels, built as text) are refused, never 500",
    async () => {
      const shape = fc.record({
        depth: fc.oneof(fc.integer({ min: 1000, max: 5000 }), fc.integer({ min: 5000, max: 40_000 })),
        kind: fc.constantFrom("array", "object", "mixed"),
        where: fc.constantFrom("top", "description", "unknownField", "opportunityCode", "amount", "preSalesId", "stage"),
      });
      await fc.assert(
        fc.asyncProperty(shape, writeRoute, async ({ depth, kind, where }, route) => {
          const opens: string[] = [];
          const closes: string[] = [];
          for (let level = 0; level < depth; level++) {
            const array = kind === "array" || (kind === "mixed" && level % 2 === 0);
            opens.push(array ? "[" : '{"a":');
            closes.push(array ? "]" : "}");
          }
          const nested = `${opens.join("")}1${closes.reverse().join("")}`;
          const body =
            where === "top"
              ? nested
              : where === "opportunityCode"
                ? `{"opportunityCode":${nested},"stage":"won"}`
                : `{"opportunityCode":"${SEEDED[0]}","opportunityName":"n","endCustomerName":"c","${where === "unknownField" ? "nested" : where}":${nested}}`;
          const { envelope } = await sendChecked({ ...route, body });
          check(envelope.code === "-1", `a nested body of depth ${depth} at ${where} was accepted`);
        }),
        fcOptions(60),
      );
    },
    20_000,
  );

  test(
    "raw non-JSON bytes and wrong content types: 415 for a type that is not JSON, 400 for bytes that are not UTF-8 JSON",
    async () => {
      const JSON_TYPES = ["application/json", "APPLICATION/JSON", "application/json; charset=utf-8", "application/json;charset=UTF-8", "Application/Json ; charset=latin1"];
      const NON_JSON_TYPES = [
        "text/plain",
        "text/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonp",
        "application/json-patch+json",
        "application/problem+json",
        "application/vnd.api+json",
        "application/*",
        "*/*",
        "",
        "application",
        "json",
        "application/xml",
        "text/html; charset=utf-8",
      ];
      const contentType = fc.oneof(
        fc.constantFrom(...JSON_TYPES).map((type) => ({ type, json: true as boolean | null })),
        fc.constantFrom(...NON_JSON_TYPES).map((type) => ({ type, json: false as boolean | null })),
        fc.constant({ type: null, json: false as boolean | null }),
        fc.string({ unit: "binary-ascii", maxLength: 40 }).filter((type) => headersAccept("content-type", type)).map((type) => ({ type, json: null as boolean | null })),
      );
      const validJson = `{"opportunityCode":"${SEEDED[1]}","description":"字节测试"}`;
      const encode = (text: string) => new TextEncoder().encode(text);
      const bytes = fc.oneof(
        // Arbitrary bytes, with bytes that are never UTF-8 mixed in.
        fc.tuple(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(0xff, 0xfe, 0xc0, 0x80)).map(([random, bad]) => ({ bytes: Uint8Array.from([...random, bad]), utf8: false })),
        fc.uint8Array({ maxLength: 300 }).map((random) => ({ bytes: random, utf8: null as boolean | null })),
        // Valid JSON made invalid UTF-8: a stray byte, an overlong "/", a cut multi-byte character.
        fc.tuple(fc.nat(), fc.constantFrom([0xff], [0xc0, 0xaf], [0xe4, 0xb8], [0xed, 0xa0, 0x80])).map(([at, bad]) => {
          const good = encode(validJson);
          const cut = at % (good.length + 1);
          return { bytes: Uint8Array.from([...good.slice(0, cut), ...bad, ...good.slice(cut)]), utf8: false };
        }),
        // The same JSON in other encodings and with a byte-order mark.
        fc.constantFrom(
          { bytes: Uint8Array.from([0xef, 0xbb, 0xbf, ...encode(validJson)]), utf8: true },
          { bytes: new Uint8Array(Buffer.from(validJson, "utf16le")), utf8: null },
          { bytes: new Uint8Array(Buffer.from(`\ufeff${validJson}`, "utf16le")), utf8: false },
          { bytes: new Uint8Array(Buffer.from(validJson, "latin1")), utf8: false },
          { bytes: encode(validJson), utf8: true },
          { bytes: new Uint8Array(0), utf8: true },
          { bytes: encode("   \n\t "), utf8: true },
          { bytes: encode(`${validJson}garbage`), utf8: true },
          { bytes: encode(validJson.replace("字节测试", "a\u0000b")), utf8: true },
          { bytes: encode("{'opportunityCode':'x'}"), utf8: true },
          { bytes: encode("NaN"), utf8: true },
        ),
      );
      await fc.assert(
        fc.asyncProperty(writeRoute, contentType, bytes, async (route, type, body) => {
          const { envelope } = await sendChecked({ ...route, body: body.bytes, contentType: type.type });
          const what = `content-type ${JSON.stringify(type.type)}, ${body.bytes.byteLength} bytes: HTTP ${envelope.status} ${envelope.msg}`;
          if (type.json === false) check(envelope.status === 415, `not JSON by content type, yet not 415: ${what}`);
          if (type.json === true) {
            check(envelope.status !== 415, `a JSON content type answered 415: ${what}`);
            if (body.utf8 === false) check(envelope.status === 400, `bytes that are not UTF-8 not answered 400: ${what}`);
          }
        }),
        fcOptions(600),
      );
    },
    20_000,
  );

  test(
    "X-Internal-Secret values the Fetch API accepts (CR/LF around it, very long, non-ASCII): only an exact secret gets in",
    async () => {
      const insertAt = (text: string, piece: string, at: number) => text.slice(0, at % (text.length + 1)) + piece + text.slice(at % (text.length + 1));
      const secret = fc
        .oneof(
          // A real secret with whitespace around it (the Fetch API strips it when the header is built).
          fc.tuple(fc.constantFrom(...SECRETS), fc.constantFrom("", " ", "\t", "\r\n", " \r\n\t", "\n"), fc.constantFrom("", " ", "\t", "\r\n", "\n ")).map(([value, before, after]) => before + value + after),
          // Injection attempts and near misses inside a real secret.
          fc
            .tuple(fc.constantFrom(...SECRETS), fc.constantFrom("\r\nX-Injected: 1", "\nSet-Cookie: a=b", "\r\n\r\n{}", "\u0000", "\u0085", "é", "\u00a0", "x", "\t", " ", "\u007f"), fc.nat())
            .map(([value, piece, at]) => insertAt(value, piece, at)),
          fc.string({ unit: "binary", maxLength: 40 }),
          fc.string({ unit: "binary-ascii", maxLength: 40 }),
          fc.tuple(fc.constantFrom("x", "é", TEST_SECRET), fc.integer({ min: 100, max: 20_000 })).map(([piece, count]) => piece.repeat(count)),
          fc.constantFrom(TEST_SECRET.toUpperCase(), TEST_SECRET.slice(0, -1), `${TEST_SECRET}\u00ff`, "", "null", `Bearer ${TEST_SECRET}`, `${TEST_SECRET},${TEST_SECRET}`),
        )
        .filter((value) => headersAccept("x-internal-secret", value));
      const call = fc.constantFrom("update", "create", "read");
      let created = 0;
      await fc.assert(
        fc.asyncProperty(fc.option(secret, { nil: null }), call, fc.string({ maxLength: 20 }), async (value, kind, text) => {
          const description = `密钥测试 ${text.trim()}`.trim();
          const request: HostileRequest =
            kind === "read"
              ? { method: "GET", path: readPath(SEEDED[2]), secret: value }
              : kind === "update"
                ? { method: "PUT", path: UPDATE_PATH, body: JSON.stringify({ opportunityCode: SEEDED[2], description }), secret: value }
                : { method: "POST", path: CREATE_PATH, body: JSON.stringify({ opportunityCode: `OPP-SECRET-${++created}`, opportunityName: "n", endCustomerName: "c" }), secret: value };
          const { envelope } = await sendChecked(request);
          // What the server receives is the value as the Fetch API normalised it.
          const received = value === null ? null : new Headers({ "x-internal-secret": value }).get("x-internal-secret");
          const what = `secret ${JSON.stringify(value?.slice(0, 80))} (${value?.length ?? 0} chars) on ${kind}: HTTP ${envelope.status} ${envelope.msg}`;
          if (received !== null && INTEGRATOR_SECRETS.includes(received)) {
            check(envelope.status === 200 && envelope.code === "0", `an integrator secret was refused: ${what}`);
          } else if (received === AUDITOR_SECRET) {
            if (kind === "read") check(envelope.status === 200 && envelope.code === "0", `the auditor could not read: ${what}`);
            else check(envelope.status === 403, `the auditor could write: ${what}`);
          } else {
            check(envelope.status === 401 && envelope.msg === "内部接口鉴权失败", `a wrong secret was not answered 401 内部接口鉴权失败: ${what}`);
          }
        }),
        fcOptions(500),
      );
    },
    20_000,
  );

  const wellFormed = hostileString.map((text) => text.toWellFormed());
  const encoded = wellFormed.map(encodeURIComponent);
  const QUERY_KEYS = ["asOf", "version", "limit", "after", "afterVersion", "x", "", "asof", "LIMIT"];
  const QUERY_VALUES = ["2026-04-01", "2026-04-01T12:00:00+08:00", "2026-04-01T12:00:00 08:00", "2026-02-30", "0", "1", "1000", "1001", "-1", "1.5", "%zz", "+", "9007199254740993", ""];
  const query = fc.oneof(
    fc.constant(""),
    fc
      .array(fc.tuple(fc.oneof(fc.constantFrom(...QUERY_KEYS), wellFormed), fc.oneof(fc.constantFrom(...QUERY_VALUES), fc.constantFrom(...EDGE_NUMBERS), wellFormed)), { maxLength: 4 })
      .map((pairs) => `?${pairs.map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`).join("&")}`),
    // Query text as clients get it wrong: unencoded "+", empty pairs, malformed escapes (all legal in a query).
    fc.constantFrom("?", "?&&", "?=", "?limit=1&limit=2", "?asOf=2026-04-01T12:00:00+08:00", "?after=%zz", "?limit=%", "?version=1&asOf=2026-04-01", "?%ED%A0%80=1"),
  );
  const readPathArb = fc.oneof(
    encoded.map((segment) => `/api/opportunities/${segment}`),
    encoded.map((segment) => `/api/opportunities/${segment}/history`),
    fc.constantFrom(...SEEDED).map((code) => readPath(code)),
    fc.constantFrom(...SEEDED).map((code) => `${readPath(code)}/history`),
    fc.constant("/api/events"),
    encoded.map((segment) => `/api/${segment}`),
    fc.tuple(encoded, encoded).map(([a, b]) => `/api/opportunities/${a}/${b}`),
    encoded.filter((segment) => !segment.startsWith("swagger")).map((segment) => `/${segment}`),
    fc.constantFrom(UPDATE_PATH, CREATE_PATH, "/api", "/api/", "/api/opportunities", "/api/opportunities/", "/healthz", "/readyz", "/metrics"),
  );
  const readMethod = fc.oneof({ weight: 6, arbitrary: fc.constant("GET") }, { weight: 1, arbitrary: fc.constantFrom("DELETE", "PATCH", "OPTIONS", "POST", "PUT") });

  test(
    "read routes with random (well-encoded) paths, queries and methods: the envelope, never 500, nothing stored",
    async () => {
      await fc.assert(
        fc.asyncProperty(readMethod, readPathArb, query, fc.constantFrom(TEST_SECRET, AUDITOR_SECRET), async (method, path, search, secret) => {
          // No body: a write path then answers 415, and nothing is ever stored.
          const { before, after } = await sendChecked({ method, path: path + search, secret });
          expect(after).toEqual(before);
        }),
        fcOptions(800),
      );
    },
    20_000,
  );

  /*
   * REGRESSION (a bug found here once, since fixed; the test keeps it away). A path segment that is not valid percent-encoding makes the route
   * parameter decoding throw (URIError) and the app answers HTTP 500 "服务器内部错误" instead of a 400/404
   * envelope; DESIGN.md reserves 500 for the unexpected. Seen for "%", "%zz", "%E0%A4%A" (cut UTF-8) and
   * "%ED%A0%80" (an encoded lone surrogate).
   * Minimal counterexample: GET /api/opportunities/% (also GET /api/opportunities/%zz/history) -> HTTP 500.
   */
  test(
    "raw request paths with malformed percent-escapes: the envelope, never 500",
    async () => {
      const piece = fc.oneof(
        fc.constantFrom("%", "%zz", "%E0%A4%A", "%ED%A0%80", "%C0%AF", "%FF", "%00", "%2F", "%25", "..", ".", "%%", "%u0041"),
        fc.stringMatching(/^[A-Za-z0-9-]{1,6}$/),
      );
      const segment = fc.array(piece, { minLength: 1, maxLength: 4 }).map((pieces) => pieces.join(""));
      const path = fc.oneof(
        segment.map((s) => `/api/opportunities/${s}`),
        segment.map((s) => `/api/opportunities/${s}/history`),
        segment.map((s) => `/api/${s}`),
        segment.map((s) => `/${s}`),
      );
      await fc.assert(
        fc.asyncProperty(readMethod, path, async (method, raw) => {
          await sendChecked({ method, path: raw });
        }),
        fcOptions(200),
      );
    },
    20_000,
  );
});

/*
 * REGRESSION (a bug found here once, since fixed; the test keeps it away). Text with a lone surrogate (valid JSON: "\ud800") is accepted; the event
 * keeps it (JSON escapes it), but SQLite's UTF-8 turns it into U+FFFD in the projection row and in the
 * stream_id column. verifyStore then fails ("projection row … differs from the events in: description", or for
 * a code "hash does not match the event's stored columns (the event was altered)"), GET answers "\ufffd"
 * instead of what was accepted, and a rebuild cannot reproduce the event's value. Either the service should
 * refuse such text or store it so that it reads back the same.
 * Minimal counterexample: PUT {"opportunityCode":"OPP-SEED-001","description":"\ud800"} -> code "0", then
 * verifyStore(db).ok === false; POST create with "opportunityCode":"\udc00" -> verifyStore reports a hash
 * mismatch at the new event.
 */
describe("A. accepted hostile text keeps the store sound", () => {
  const TEXT_FIELDS = FIELD_NAMES.filter((field) => FIELD_KINDS[field] === "requiredText" || FIELD_KINDS[field] === "optionalText");
  const oddText = fc
    .array(fc.oneof(fc.constantFrom(...ODD_PIECES), fc.string({ maxLength: 4 })), { minLength: 1, maxLength: 6 })
    .map((parts) => parts.join(""))
    .filter((text) => text.trim() !== "");
  const write = fc.oneof(
    fc.record({ kind: fc.constant("update" as const), field: fc.constantFrom(...TEXT_FIELDS), text: oddText }),
    fc.record({ kind: fc.constant("create" as const), field: fc.constantFrom("opportunityCode" as const, "endCustomerName" as const, "opportunityName" as const), text: oddText }),
  );

  test(
    "accepted odd Unicode keeps the store verifiable and reads back as sent",
    async () => {
      // A store broken by one run must not fail (or shrink) the next: after a run that failed, the next starts on a
      // fresh store. A run that passed leaves the store verified after each write it made, and the next goes on in
      // it, creating codes of its own. A fresh PostgreSQL database per run (create, schema, seed, drop: about 0.4 s)
      // let only 29 of the 60 runs fit in the time limit there when the file ran alone, fewer beside other suites.
      let sound = true;
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(write, { minLength: 1, maxLength: 3 }), async (writes) => {
          if (!sound) {
            await service.dispose();
            service = await startBackendService();
            await seed(service);
          }
          sound = false;
          run += 1;
          for (const [index, entry] of writes.entries()) {
            const body: Record<string, unknown> =
              entry.kind === "update"
                ? { opportunityCode: SEEDED[0], [entry.field]: entry.text }
                : { opportunityCode: `OPP-ODD-${run}-${index}`, opportunityName: "n", endCustomerName: "c", [entry.field]: entry.text };
            const method = entry.kind === "update" ? "PUT" : "POST";
            const { envelope } = await sendChecked({ method, path: entry.kind === "update" ? UPDATE_PATH : CREATE_PATH, body: JSON.stringify(body) });
            if (envelope.code !== "0") continue;
            const report = await verifyBackend(service);
            check(report.ok, `after accepting ${entry.field}=${JSON.stringify(entry.text)}: verify failed: ${JSON.stringify(report.problem)}`);
            const code = String(body.opportunityCode).trim();
            // The record as the projection answers it, looked up by the code that was sent.
            const row = await service.storage.findOpportunity(code);
            check(row !== null, `accepted ${JSON.stringify(code)} but no projection row has that code`);
            const expected = entry.text.trim();
            const kept = row[entry.field];
            check(kept === expected, `accepted ${entry.field}=${JSON.stringify(entry.text)} but the projection keeps ${JSON.stringify(kept)}`);
            if (code.isWellFormed()) {
              const read = await expectEnvelope(await send(service, "GET", readPath(code)), `GET ${code}`);
              const answered = (read.data as Record<string, unknown>)[entry.field];
              check(answered === expected, `accepted ${entry.field}=${JSON.stringify(entry.text)} but GET answers ${JSON.stringify(answered)}`);
            }
          }
          sound = true;
        }),
        fcOptions(60),
      );
    },
    20_000,
  );
});
