import { readFileSync } from "node:fs";

/** One stage of the sales process: the code stored and sent by integrators, and its Chinese label. */
export interface Stage {
  code: string;
  label: string;
}

/**
 * The built-in stages. Operators replace the whole list with `--stages FILE` (same JSON shape) without a
 * rebuild; `won` and `lost` are here because the contract's example writes back `won`.
 */
export const DEFAULT_STAGES: readonly Stage[] = [
  { code: "lead", label: "线索" },
  { code: "initial_contact", label: "初步接洽" },
  { code: "requirement_confirmed", label: "需求确认" },
  { code: "solution", label: "方案交流" },
  { code: "bidding", label: "招投标" },
  { code: "negotiation", label: "商务谈判" },
  { code: "won", label: "赢单" },
  { code: "lost", label: "输单" },
];

export class StageDictionary {
  private readonly byCodeOrLabel = new Map<string, string>();

  constructor(readonly stages: readonly Stage[]) {
    for (const stage of stages) this.byCodeOrLabel.set(stage.code, stage.code);
    for (const stage of stages) if (!this.byCodeOrLabel.has(stage.label)) this.byCodeOrLabel.set(stage.label, stage.code);
  }

  /** The stage code for a code or a label (both trimmed), or null when neither is in the dictionary. */
  resolve(codeOrLabel: string): string | null {
    return this.byCodeOrLabel.get(codeOrLabel.trim()) ?? null;
  }
}

/** Checks a parsed stages file; returns the stages or throws an Error whose message names what is wrong. */
export function parseStages(value: unknown, source: string): Stage[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new Error(`${source}: stages must be a non-empty JSON array of {"code","label"}`);
  }
  const codes = new Set<string>();
  const labels = new Set<string>();
  return value.map((entry, index) => {
    const where = `${source}: entry ${index + 1}`;
    if (typeof entry !== "object" || entry === null) throw new Error(`${where} must be an object {"code","label"}`);
    const { code, label } = entry as Record<string, unknown>;
    if (typeof code !== "string" || !/^\S+$/.test(code)) throw new Error(`${where}: "code" must be a non-empty string without spaces`);
    // Integrators' values are trimmed before lookup, so a label with surrounding spaces could never match.
    if (typeof label !== "string" || label.trim() === "" || label.trim() !== label) {
      throw new Error(`${where}: "label" must be a non-empty string without surrounding spaces`);
    }
    if (codes.has(code)) throw new Error(`${where}: duplicate code ${JSON.stringify(code)}`);
    if (labels.has(label)) throw new Error(`${where}: duplicate label ${JSON.stringify(label)}`);
    codes.add(code);
    labels.add(label);
    return { code, label };
  });
}

export function loadStageDictionary(path: string | undefined): StageDictionary {
  if (!path) return new StageDictionary(DEFAULT_STAGES);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(`stages file ${path} cannot be read: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`stages file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  return new StageDictionary(parseStages(parsed, `stages file ${path}`));
}
