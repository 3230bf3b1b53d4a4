import { formatHead } from "../../events/verify-chain";
import { escapeForTerminal } from "../cli/terminal-text";
import type { VerifyFinding } from "./verify-findings";
import type { VerifyReport } from "./verify-store";

/** One finding as `verify` prints it; control characters escaped, so stored text can neither forge a line nor act on a terminal. */
export const findingLine = (finding: Pick<VerifyFinding, "at" | "reason">) => `FAILED at ${finding.at}: ${escapeForTerminal(finding.reason)}`;

/**
 * What `verify` prints for a report, line by line: the OK line and the head, or every finding and a summary.
 * The CLI writes these lines; the verification job over HTTP answers them, so both say the same thing.
 */
export function verifyReportLines(report: VerifyReport): string[] {
  if (report.ok) {
    return [
      `OK: ${report.events} events, ${report.opportunities} opportunities; database and schema sound, chain intact, updates consistent, projection matches`,
      `head ${formatHead(report.head)}`,
    ];
  }
  const lines = report.findings.map(findingLine);
  lines.push(`(${report.findings.length} finding(s); the chain is sound up to head ${formatHead(report.head)}, its first ${report.events} events)`);
  return lines;
}
