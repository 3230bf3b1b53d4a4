import { el } from "./dom";
import { formatValue, RECORD_FIELDS } from "./format";

export type OpportunityRecord = Record<string, unknown>;

/** Bookkeeping every past state differs in: not what an auditor looks for, so not highlighted. */
const BOOKKEEPING = new Set(["version", "createdAt", "updatedAt"]);

const sameValue = (a: unknown, b: unknown) => String(a ?? "") === String(b ?? "") && (a === null) === (b === null);

/**
 * Fills the record table: every field with its Chinese name. With `today` (a past state is shown), the fields
 * whose value differs from today's are highlighted and say so in words, not by colour alone.
 */
export function renderRecord(tbody: HTMLTableSectionElement, record: OpportunityRecord, today?: OpportunityRecord): number {
  tbody.replaceChildren();
  let differing = 0;
  for (const field of RECORD_FIELDS) {
    const value = record[field.name];
    const differs = today !== undefined && !BOOKKEEPING.has(field.name) && !sameValue(value, today[field.name]);
    if (differs) differing += 1;
    const cell = el("td", {}, el("span", value === null || value === undefined ? { class: "empty" } : {}, formatValue(field.name, value)));
    if (differs) cell.append(el("span", { class: "badge" }, `与当前不同（当前：${formatValue(field.name, today![field.name])}）`));
    tbody.append(el("tr", { "data-field": field.name, ...(differs ? { class: "differs" } : {}) }, el("th", { scope: "row" }, field.label), cell));
  }
  return differing;
}
