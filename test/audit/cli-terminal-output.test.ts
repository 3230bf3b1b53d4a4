/**
 * Stored text reaches the auditor's terminal only escaped: a value holding a newline cannot forge a line of
 * `history` (or of `import`'s rejections), and ESC sequences or bidi overrides cannot act on the terminal.
 * SQLite only (not in the Makefile's BACKEND_NEUTRAL_SUITES): the forged text is planted in a SQLite file's rows,
 * and the escaping is the CLI's own, the same whichever database the text came from.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { history } from "../../src/cli/history";
import { importFile } from "../../src/cli/import";
import { captureCli } from "../support/cli-output";
import { createBody, createCommand, META, Resources, SteppingClock } from "../store/store-fixture";
import { rehashFrom, tamper } from "./audit-fixture";

const resources = new Resources();
afterEach(() => resources.disposeAll());

const FORGED_NAME = "n\nv99  2099-01-01  FakeEvent  by admin\u001b[2J\u202e";

const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

describe("history", () => {
  test("a stored name, actor and request id holding newlines, ESC and bidi controls are printed escaped", async () => {
    const service = resources.service({ now: new SteppingClock().now });
    await service.writer.execute(createCommand(createBody("TTY-1")), META);
    service.close();
    // Planted as stored text: whatever the field rules accept now, old events may hold anything.
    tamper(service.path, (db) => {
      db.run("UPDATE events SET data = json_set(data, '$.opportunityName', ?), metadata = ? WHERE position = 1", [
        FORGED_NAME,
        JSON.stringify({ actor: "oms\n\u009b2J", requestId: "r\r\u2028" }),
      ]);
      rehashFrom(db, 1);
    });

    const result = await captureCli(() => history(["TTY-1", "--db", service.path], {}));
    expect(result.code).toBe(0);
    expect(result.stdout).not.toMatch(UNSAFE);
    expect(result.stdout.split("\n").filter((line) => line.startsWith("v"))).toHaveLength(1);
    expect(result.stdout).toContain("n\\nv99  2099-01-01  FakeEvent  by admin\\u001b[2J\\u202e");
    expect(result.stdout).toContain("by oms\\n\\u009b2J  (position 1, request r\\r\\u2028)");
  });

  test("an unknown code from the command line is echoed escaped", async () => {
    const service = resources.service();
    const result = await captureCli(() => history(["NOPE\u001b[31m", "--db", service.path], {}));
    expect(result.code).toBe(1);
    expect(result.stderr).toBe("商机不存在: NOPE\\u001b[31m\n");
  });
});

describe("import", () => {
  test("a rejected line quoting the file's text cannot forge a line of the report", async () => {
    const service = resources.service();
    service.close();
    const file = join(resources.tempDir(), "forged.ndjson");
    writeFileSync(file, `${JSON.stringify({ opportunityCode: "IMP-1", opportunityName: "x", endCustomerName: "y", stage: "bad\nline 99: forged\u001b[2J" })}\n`);
    const result = await captureCli(() => importFile([file, "--db", service.path], {}));
    expect(result.code).toBe(1);
    expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(result.stderr).toStartWith("line 1: ");
    expect(result.stderr).toContain("bad\\nline 99: forged\\u001b[2J");
  });
});
