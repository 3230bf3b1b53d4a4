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

/**
 * The kind of value each optional field of the contract takes, with DESIGN.md's rules (which text fields must
 * keep a value). Written out here, not taken from src/field-rules.ts, so that tests check the code against it.
 */
export const CONTRACT_FIELD_KINDS = {
  opportunityName: "requiredText",
  projectLocation: "optionalText",
  operatorName: "optionalText",
  amount: "amount",
  expectedCloseDate: "date",
  confidencePct: "confidence",
  stage: "stage",
  opportunityType: "optionalText",
  productType: "optionalText",
  source: "optionalText",
  salesExpansionId: "id",
  channelExpansionId: "id",
  preSalesId: "id",
  preSalesName: "optionalText",
  competitorName: "optionalText",
  archived: "boolean",
  pushedToOms: "boolean",
  omsPushTime: "dateTime",
  status: "status",
  description: "optionalText",
} as const;
