import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_STAGES, loadStageDictionary, parseStages, StageDictionary } from "../../src/stage-dictionary";

describe("StageDictionary.resolve with the built-in stages", () => {
  const dictionary = new StageDictionary(DEFAULT_STAGES);

  test("the built-in stages include won and lost", () => {
    expect(DEFAULT_STAGES.map((stage) => stage.code)).toEqual(expect.arrayContaining(["won", "lost"]));
  });

  test.each<[string, string | null]>([
    ["won", "won"],
    ["lost", "lost"],
    ["bidding", "bidding"],
    ["赢单", "won"],
    ["输单", "lost"],
    ["线索", "lead"],
    ["  won  ", "won"],
    ["\t赢单\n", "won"],
    ["WON", null],
    ["xxx", null],
    ["", null],
    ["   ", null],
  ])("resolve(%p) is %p", (input, expected) => {
    expect(dictionary.resolve(input)).toBe(expected);
  });
});

describe("StageDictionary with an operator's list", () => {
  test("a code wins over another stage's equal label", () => {
    const dictionary = new StageDictionary([
      { code: "a", label: "b" },
      { code: "b", label: "乙" },
    ]);
    expect(dictionary.resolve("b")).toBe("b");
    expect(dictionary.resolve("乙")).toBe("b");
    expect(dictionary.resolve("a")).toBe("a");
  });
});

describe("parseStages", () => {
  test("accepts a valid list and keeps its order", () => {
    expect(parseStages([{ code: "x", label: "甲" }, { code: "y", label: "乙" }], "f.json")).toEqual([
      { code: "x", label: "甲" },
      { code: "y", label: "乙" },
    ]);
  });

  test.each<[string, unknown, string]>([
    ["empty array", [], "f.json: stages must be a non-empty JSON array"],
    ["an object, not an array", { code: "x", label: "甲" }, "non-empty JSON array"],
    ["null", null, "non-empty JSON array"],
    ["entry not an object", ["won"], "entry 1 must be an object"],
    ["missing code", [{ label: "甲" }], 'entry 1: "code"'],
    ["empty code", [{ code: "", label: "甲" }], 'entry 1: "code"'],
    ["code with surrounding spaces", [{ code: " won ", label: "甲" }], 'entry 1: "code"'],
    ["missing label", [{ code: "x" }], 'entry 1: "label"'],
    ["blank label", [{ code: "x", label: "  " }], 'entry 1: "label"'],
    ["duplicate code", [{ code: "x", label: "甲" }, { code: "x", label: "乙" }], 'entry 2: duplicate code "x"'],
    ["duplicate label", [{ code: "x", label: "甲" }, { code: "y", label: "甲" }], 'entry 2: duplicate label "甲"'],
  ])("rejects %s", (_name, value, fragment) => {
    expect(() => parseStages(value, "f.json")).toThrow(fragment);
  });

  // resolve() trims its input, so a label stored with surrounding spaces could never be matched: the file must
  // either be refused or the label trimmed, never loaded with a stage that is silently unreachable by label.
  test("a label with surrounding spaces is refused or trimmed, never silently unreachable", () => {
    let stages: ReturnType<typeof parseStages> | null = null;
    try {
      stages = parseStages([{ code: "won", label: " 赢单 " }], "f.json");
    } catch (error) {
      expect((error as Error).message).toContain('entry 1: "label"');
      return;
    }
    expect(new StageDictionary(stages).resolve("赢单")).toBe("won");
  });

  test("the error names the source", () => {
    expect(() => parseStages([], "stages file /etc/stages.json")).toThrow(/^stages file \/etc\/stages\.json: /);
  });
});

describe("loadStageDictionary", () => {
  const dir = mkdtempSync(join(tmpdir(), "stage-dictionary-test-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  test("no path gives the built-in stages", () => {
    expect(loadStageDictionary(undefined).stages).toEqual(DEFAULT_STAGES);
    expect(loadStageDictionary("").stages).toEqual(DEFAULT_STAGES);
  });

  test("a valid file replaces the whole list", () => {
    const path = write("ok.json", JSON.stringify([{ code: "signed", label: "已签约" }]));
    const dictionary = loadStageDictionary(path);
    expect(dictionary.resolve("已签约")).toBe("signed");
    expect(dictionary.resolve("won")).toBeNull();
  });

  test("a missing file throws naming it", () => {
    const path = join(dir, "missing.json");
    expect(() => loadStageDictionary(path)).toThrow(`stages file ${path} cannot be read`);
  });

  test("bad JSON throws naming the file", () => {
    const path = write("bad.json", "[{code:");
    expect(() => loadStageDictionary(path)).toThrow(`stages file ${path} is not valid JSON`);
  });

  test("a bad entry throws naming the file and the entry", () => {
    const path = write("dup.json", JSON.stringify([{ code: "a", label: "甲" }, { code: "a", label: "乙" }]));
    expect(() => loadStageDictionary(path)).toThrow(`stages file ${path}: entry 2: duplicate code "a"`);
  });
});
