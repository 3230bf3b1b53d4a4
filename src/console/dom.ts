/** Building the page's elements without innerHTML: every value a user or the store holds is text, never markup. */

type Child = Node | string | null | undefined | false;

/** An element with attributes and children; `text` children become text nodes. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  for (const child of children) if (child !== null && child !== undefined && child !== false) element.append(child);
  return element;
}

const SVG = "http://www.w3.org/2000/svg";

/** The same for SVG elements (the chart). */
export function svg(tag: string, attributes: Record<string, string | number> = {}, ...children: Child[]): SVGElement {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  for (const child of children) if (child !== null && child !== undefined && child !== false) element.append(child);
  return element;
}

/** An element the page's HTML declares; its absence is a bug of the page. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from the page`);
  return found as T;
}

/** Shows a message in a status line, as an error or not. */
export function say(target: HTMLElement, text: string, kind: "error" | "ok" | "" = ""): void {
  target.textContent = text;
  target.className = kind ? `message ${kind}` : "message";
}
