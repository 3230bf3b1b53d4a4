import type { Decision } from "../decide";
import type { WriteResult } from "../write/batch-plan";
import type { BatchAnswer, BatchItemOutcome } from "../write/batch-update";
import { dryRunData } from "../write/dry-run";
import { envelopeResponse, rejection, success, type Envelope } from "./envelope";

/**
 * How the write routes' outcomes become answers. A single write answers `data` = the opportunity's id; a batch
 * answers one result per item, each exactly what the update route would have answered for it; a dry run puts
 * `{id, version, changes}` where the id would be.
 */

/** The data of a success: the id, or what a dry run shows. */
const successData = (decision: Extract<Decision, { ok: true }>, dryRun: boolean) => (dryRun ? dryRunData(decision) : decision.id);

/** The answer to a single write (create or update). */
export function writeAnswer(result: WriteResult, dryRun: boolean, headers: Record<string, string>): Response {
  return result.ok ? success(successData(result, dryRun), headers) : rejection(result.message, headers);
}

/** One item's result in a batch answer: its index and code, then the single route's envelope for it. */
function itemResult(item: BatchItemOutcome, dryRun: boolean) {
  const { index, opportunityCode, result } = item;
  return result.ok
    ? { index, opportunityCode, code: "0", msg: "success", data: successData(result, dryRun) }
    : { index, opportunityCode, code: "-1", msg: result.message, data: null };
}

/**
 * The envelope of a processed batch: code "0" with every item's result, even when some failed; with allOrNone
 * and a failed item, code "-1", the first failing item named in msg (第 N 条 counts from 1, N = index + 1), and
 * the results still in data, the items that would have succeeded answering 未执行.
 */
export function batchEnvelope(batch: BatchAnswer, dryRun: boolean): Envelope {
  const results = batch.items.map((item) => itemResult(item, dryRun));
  const succeeded = results.filter((result) => result.code === "0").length;
  const data = { succeeded, failed: results.length - succeeded, results };
  if (batch.failedIndex === null) return { code: "0", msg: "success", data };
  return { code: "-1", msg: `第 ${batch.failedIndex + 1} 条: ${results[batch.failedIndex]!.msg}`, data };
}

export function batchAnswer(batch: BatchAnswer, dryRun: boolean, headers: Record<string, string>): Response {
  return envelopeResponse(200, batchEnvelope(batch, dryRun), headers);
}
