/** The contract's request example (seed 000, "请求示例"), word for word: the tests' fixed point. */
export const CONTRACT_EXAMPLE = {
  opportunityCode: "OPP-20260401-001",
  stage: "won",
  status: "won",
  confidencePct: "A",
  amount: 2800000,
  expectedCloseDate: "2026-04-30",
  description: "外部系统回写成交结果",
} as const;
