import { svg } from "./dom";
import { formatTime, formatValue, stageLabel, stageOrder } from "./format";
import type { HistoryEntry } from "./timeline";

/** One point of the chart: the amount and the stage after an event that changed either. */
interface Point {
  version: number;
  recordedAt: string;
  amount: number | null;
  stage: string | null;
}

// Drawn at about the width of a column, so that its text stays the size of the page's.
const WIDTH = 560;
const HEIGHT = 300;
const PAD = { left: 84, right: 84, top: 16, bottom: 48 };

/** The states after each event that set the amount or the stage, oldest first. */
export function chartPoints(entries: HistoryEntry[]): Point[] {
  const points: Point[] = [];
  let amount: number | null = null;
  let stage: string | null = null;
  for (const entry of entries) {
    const changed = entry.changes.filter((change) => change.field === "amount" || change.field === "stage");
    if (changed.length === 0) continue;
    for (const change of changed) {
      if (change.field === "amount") amount = typeof change.to === "number" ? change.to : null;
      else stage = typeof change.to === "string" ? change.to : null;
    }
    points.push({ version: entry.version, recordedAt: entry.recordedAt, amount, stage });
  }
  return points;
}

function scales(points: Point[]) {
  const maxAmount = Math.max(1, ...points.map((point) => point.amount ?? 0)) * 1.1;
  const stages = stageOrder.length > 0 ? stageOrder : [...new Set(points.map((point) => point.stage ?? ""))];
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  return {
    stages,
    x: (index: number) => PAD.left + (points.length === 1 ? plotWidth / 2 : (index * plotWidth) / (points.length - 1)),
    amountY: (amount: number) => PAD.top + plotHeight - (amount / maxAmount) * plotHeight,
    stageY: (stage: string) => PAD.top + plotHeight - ((Math.max(0, stages.indexOf(stage)) + 0.5) / stages.length) * plotHeight,
    maxAmount,
  };
}

/** Axis labels in 万 and 亿: an amount of up to 1e13 still fits beside the axis. */
const axisAmount = new Intl.NumberFormat("zh-CN", { notation: "compact", maximumFractionDigits: 1 });

function axes(scale: ReturnType<typeof scales>): SVGElement[] {
  const parts: SVGElement[] = [];
  for (const fraction of [0, 0.5, 1]) {
    const amount = (scale.maxAmount / 1.1) * fraction;
    const y = scale.amountY(amount);
    parts.push(svg("line", { class: "grid", x1: PAD.left, x2: WIDTH - PAD.right, y1: y, y2: y }));
    parts.push(svg("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end" }, axisAmount.format(amount)));
  }
  for (const stage of scale.stages) parts.push(svg("text", { x: WIDTH - PAD.right + 6, y: scale.stageY(stage) + 4 }, stageLabel(stage)));
  parts.push(svg("line", { class: "axis", x1: PAD.left, x2: WIDTH - PAD.right, y1: HEIGHT - PAD.bottom, y2: HEIGHT - PAD.bottom }));
  return parts;
}

/** A series' line through the points that have a value. */
function line(points: Point[], y: (point: Point) => number | null, x: (index: number) => number, className: string): SVGElement {
  const coordinates = points.flatMap((point, index) => {
    const value = y(point);
    return value === null ? [] : [`${x(index).toFixed(1)},${value.toFixed(1)}`];
  });
  return svg("polyline", { class: className, points: coordinates.join(" ") });
}

/** One event's marks, linked to its timeline entry: Enter or a click opens the entry. */
function marks(point: Point, index: number, scale: ReturnType<typeof scales>, onPick: (version: number) => void): SVGElement {
  const label = `版本 ${point.version}，${formatTime(point.recordedAt)}：金额 ${formatValue("amount", point.amount)}，阶段 ${formatValue("stage", point.stage)}`;
  const link = svg("a", { href: `#version-${point.version}`, "aria-label": label }, svg("title", {}, label));
  if (point.amount !== null) link.append(svg("circle", { class: "point-amount", cx: scale.x(index), cy: scale.amountY(point.amount), r: 6 }));
  if (point.stage !== null) link.append(svg("rect", { class: "point-stage", x: scale.x(index) - 5, y: scale.stageY(point.stage) - 5, width: 10, height: 10 }));
  link.append(svg("text", { x: scale.x(index), y: HEIGHT - PAD.bottom + 16, "text-anchor": "middle" }, `v${point.version}`));
  link.addEventListener("click", (event) => {
    event.preventDefault();
    onPick(point.version);
  });
  return link;
}

function legend(): SVGElement {
  return svg(
    "g",
    { class: "legend" },
    svg("circle", { class: "point-amount", cx: PAD.left, cy: HEIGHT - 12, r: 5 }),
    svg("text", { x: PAD.left + 10, y: HEIGHT - 8 }, "金额（左轴）"),
    svg("rect", { class: "point-stage", x: PAD.left + 110, y: HEIGHT - 17, width: 10, height: 10 }),
    svg("text", { x: PAD.left + 126, y: HEIGHT - 8 }, "阶段（右轴）"),
  );
}

/** The chart of an opportunity's amount and stage, drawn by the page as inline SVG; none when nothing set either. */
export function drawChart(container: HTMLElement, entries: HistoryEntry[], onPick: (version: number) => void): boolean {
  const points = chartPoints(entries);
  container.replaceChildren();
  if (points.length === 0) return false;
  const scale = scales(points);
  const chart = svg(
    "svg",
    { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "group", "aria-label": `金额与阶段随版本的变化，共 ${points.length} 个点` },
    ...axes(scale),
    line(points, (point) => (point.amount === null ? null : scale.amountY(point.amount)), scale.x, "amount-line"),
    line(points, (point) => (point.stage === null ? null : scale.stageY(point.stage)), scale.x, "stage-line"),
    ...points.map((point, index) => marks(point, index, scale, onPick)),
    legend(),
  );
  container.append(chart);
  return true;
}
