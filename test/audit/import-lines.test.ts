/**
 * `import` reads its NDJSON with the same line reader as restore: a create body holding U+2028/U+2029 is one
 * line (line numbers of later rejections stay right), invalid UTF-8 is rejected by its line number instead of
 * being stored as U+FFFD, a byte order mark is skipped, and an over-long line is rejected without being held.
 * Into a new database of TEST_BACKEND (make test runs this suite on SQLite and on PostgreSQL).
 */
import { afterEach, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { MAX_NDJSON_LINE_BYTES } from "../../src/audit/ndjson-lines";
import { importFile } from "../../src/cli/import";
import { captureCli } from "../support/cli-output";
import { Resources } from "../store/store-fixture";
import { createBackendDatabase, type BackendDatabase } from "../support/test-backend";

const resources = new Resources();
afterEach(() => resources.disposeAll());
let database: BackendDatabase | undefined;
afterEach(async () => {
  await database?.drop();
  database = undefined;
});

const body = (code: string, extra: Record<string, unknown> = {}) => JSON.stringify({ opportunityCode: code, opportunityName: code, endCustomerName: "客户", ...extra });

test("line numbers, UTF-8, BOM and line length", async () => {
  const dir = resources.tempDir();
  const target = (database = await createBackendDatabase());
  const file = join(dir, "bodies.ndjson");
  const utf8 = (text: string) => Buffer.from(text, "utf8");
  writeFileSync(
    file,
    Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      utf8(`${body("IMP-1", { description: "一\u2028二\u2029三" })}\r\n`),
      utf8(`${body("IMP-2", { stage: "nope" })}\n`),
      utf8(body("IMP-3", { description: "x" }).replace('"x"', '"')),
      Buffer.from([0xff, 0xfe]),
      utf8('"}\n'),
      utf8(`{"opportunityCode":"${"L".repeat(MAX_NDJSON_LINE_BYTES)}"}\n`),
      utf8(`${body("IMP-5")}\n`),
    ]),
  );

  const result = await captureCli(() => importFile([file, "--db", target.location], {}));
  expect(result.stderr.trimEnd().split("\n")).toEqual([
    "line 2: 项目阶段无效: nope",
    "line 3: 不是合法的 UTF-8 文本",
    `line 4: 超过 ${MAX_NDJSON_LINE_BYTES / 1048576} MiB，未读取`,
  ]);
  expect(result.stdout).toBe(`imported ${file}: 2 created, 3 rejected\n`);
  expect(result.code).toBe(1);
  const { tables } = await target.open();
  const rows = (await tables.select<{ code: string; description: string | null }>("SELECT code, description FROM opportunities ORDER BY id")).map((row) => [row.code, row.description]);
  expect(rows).toEqual([
    ["IMP-1", "一\u2028二\u2029三"],
    ["IMP-5", null],
  ]);
}, 30_000);

test("a rejected line quotes a refused number as the line writes it, as HTTP answers", async () => {
  const dir = resources.tempDir();
  const target = (database = await createBackendDatabase());
  const file = join(dir, "numbers.ndjson");
  const line = (code: string, fields: string) => `{"opportunityCode":"${code}","opportunityName":"n","endCustomerName":"c",${fields}}\n`;
  writeFileSync(file, line("IMP-N1", `"amount":-1.50`) + line("IMP-N2", `"preSalesId":9007199254740993.5`) + line("IMP-N3", `"amount":1.50`));

  const result = await captureCli(() => importFile([file, "--db", target.location], {}));
  expect(result.stderr.trimEnd().split("\n")).toEqual([
    "line 1: amount 必须大于 0，收到: -1.50",
    "line 2: preSalesId 必须是大于 0 的整数，且超过 2^53 时须以不带小数点和指数的整数（或纯数字字符串）书写，收到: 9007199254740993.5",
  ]);
  expect(result.stdout).toBe(`imported ${file}: 1 created, 2 rejected\n`);
  expect(result.code).toBe(1);
}, 30_000);
