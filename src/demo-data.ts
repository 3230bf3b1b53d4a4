import { parseCreateBody } from "./commands";
import type { FieldContext } from "./field-rules";
import type { OpportunityReads } from "./storage/port";
import type { GroupCommit } from "./write/group-commit";

/**
 * A few opportunities for `make run`, so that the contract's request example (OPP-20260401-001) answers
 * success on the first try. Loaded only with `serve --demo`, and only into an empty database.
 */
export const DEMO_OPPORTUNITIES = [
  {
    opportunityCode: "OPP-20260401-001",
    opportunityName: "某市智慧园区一期建设项目",
    endCustomerName: "某市城市投资发展集团有限公司",
    projectLocation: "江苏省南京市",
    operatorName: "华东大区",
    amount: 2500000,
    expectedCloseDate: "2026-05-31",
    confidencePct: "B",
    stage: "negotiation",
    opportunityType: "新建",
    productType: "园区综合解决方案",
    source: "OMS",
    status: "active",
    description: "演示数据",
  },
  {
    opportunityCode: "OPP-20260402-002",
    opportunityName: "某银行数据中心网络改造",
    endCustomerName: "某商业银行股份有限公司",
    projectLocation: "上海市",
    amount: 1200000,
    expectedCloseDate: "2026-06-30",
    confidencePct: "C",
    stage: "solution",
    opportunityType: "改造",
    productType: "网络设备",
    source: "招投标系统",
    description: "演示数据",
  },
  {
    opportunityCode: "OPP-20260403-003",
    opportunityName: "某医院信息化运维服务",
    endCustomerName: "某市第一人民医院",
    projectLocation: "浙江省杭州市",
    amount: 480000.5,
    expectedCloseDate: "2026-07-15",
    confidencePct: "A",
    stage: "bidding",
    source: "ERP",
    description: "演示数据",
  },
];

/** Creates the demo opportunities when the database has none; returns how many were created. */
export async function loadDemoData(writer: Pick<GroupCommit, "executeMany">, storage: Pick<OpportunityReads, "countOpportunities">, context: FieldContext): Promise<number> {
  if ((await storage.countOpportunities()) > 0) return 0;
  const items = DEMO_OPPORTUNITIES.map((body, index) => {
    const parsed = parseCreateBody(body, context);
    if (!parsed.ok) throw new Error(`demo opportunity ${index + 1} is invalid: ${parsed.errors.join("; ")}`);
    return { command: parsed.command, metadata: { actor: "demo", requestId: `demo-${index + 1}` } };
  });
  const results = await writer.executeMany(items);
  return results.filter((result) => result.ok).length;
}
