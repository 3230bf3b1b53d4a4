/**
 * How the page writes values: field names in Chinese (from the service, in the page's config block), stages by
 * their Chinese label (from GET /api/stages), amounts with thousands separators, times in the service's zone.
 */
import { wallClockAt } from "../zoned-time";

interface PageConfig {
  timeZone: string;
  fields: { name: string; label: string }[];
}

function readConfig(): PageConfig {
  const block = document.getElementById("console-config");
  try {
    return JSON.parse(block?.textContent ?? "") as PageConfig;
  } catch {
    return { timeZone: "Asia/Shanghai", fields: [] };
  }
}

export const config = readConfig();

/** The record's fields in the order the read route answers them, each with its Chinese name. */
export const RECORD_FIELDS: { name: string; label: string }[] = [
  { name: "id", label: "商机 ID" },
  { name: "opportunityCode", label: "商机编号" },
  { name: "endCustomerName", label: "最终客户" },
  ...config.fields,
  { name: "version", label: "版本" },
  { name: "createdAt", label: "创建时间" },
  { name: "updatedAt", label: "更新时间" },
];

const labels = new Map(RECORD_FIELDS.map((field) => [field.name, field.label]));
export const fieldLabel = (name: string) => labels.get(name) ?? name;

const stageLabels = new Map<string, string>();
/** Stage codes in the dictionary's order (the chart's stage axis). */
export const stageOrder: string[] = [];

export function useStages(stages: { code: string; label: string }[]): void {
  stageLabels.clear();
  stageOrder.length = 0;
  for (const stage of stages) {
    stageLabels.set(stage.code, stage.label);
    stageOrder.push(stage.code);
  }
}

export const stageLabel = (code: string) => stageLabels.get(code) ?? code;

const amounts = new Intl.NumberFormat("zh-CN", { maximumFractionDigits: 2 });
const STATUS_LABELS: Record<string, string> = { active: "进行中 (active)", closed: "已关闭 (closed)", won: "赢单 (won)", lost: "输单 (lost)" };
const TIME_FIELDS = new Set(["createdAt", "updatedAt"]);

/** A stored value as the page shows it; null is "（空）". */
export function formatValue(field: string, value: unknown): string {
  if (value === null || value === undefined || value === "") return "（空）";
  if (field === "amount" && typeof value === "number") return amounts.format(value);
  if (field === "stage" && typeof value === "string") return stageLabel(value);
  if (field === "status" && typeof value === "string") return STATUS_LABELS[value] ?? value;
  if (typeof value === "boolean") return value ? "是" : "否";
  if (TIME_FIELDS.has(field) && typeof value === "string") return formatTime(value);
  return String(value);
}

const two = (value: number) => String(value).padStart(2, "0");

/** An instant (ISO text) as `2026-04-30 10:20:30` on the service's clock; text that is no time is shown as it is. */
export function formatTime(iso: string): string {
  const instant = new Date(iso).getTime();
  if (Number.isNaN(instant)) return iso;
  const wall = wallClockAt(instant, config.timeZone);
  return `${wall.year}-${two(wall.month)}-${two(wall.day)} ${two(wall.hour)}:${two(wall.minute)}:${two(wall.second)}`;
}

/** The same with the zone named, for headings. */
export const formatTimeWithZone = (iso: string) => `${formatTime(iso)}（${config.timeZone}）`;
