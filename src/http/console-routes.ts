import { Elysia } from "elysia";
import { OPPORTUNITY_FIELD_NAMES } from "../../events/opportunity-events";
import { FIELD_RULES } from "../field-rules";
// Embedded in the binary: the page, its style and its script (bundled by Bun when the server is), no CDN, no font.
import { consoleAssets } from "./console-bundle" with { type: "macro" };
import { requestIdOf } from "./request-context";
import { PUBLIC_ROUTE } from "./route-access";

export const CONSOLE_PATH = "/console";
const SCRIPT_PATH = `${CONSOLE_PATH}/assets/console.js`;
const STYLE_PATH = `${CONSOLE_PATH}/assets/console.css`;

/**
 * Only this origin, for everything: scripts and styles from the files below (no inline script or style), data
 * from the API. No form is ever submitted by the browser (the page's script handles them), so that a secret can
 * never end up in a URL, not even with the script failing.
 */
export const CONSOLE_CSP = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const ASSETS = consoleAssets();

/** What the page needs to know of this service that no API route says: its time zone and the fields' Chinese names. */
function pageConfig(timeZone: string): string {
  const fields = OPPORTUNITY_FIELD_NAMES.map((name) => ({ name, label: FIELD_RULES[name].label.split(/[,，]/)[0]!.trim() }));
  // In a <script type="application/json"> block: "<" escaped, so no value can close the block.
  return JSON.stringify({ timeZone, fields }).replaceAll("<", "\\u003c");
}

export interface ConsoleRouteDeps {
  timeZone: string;
}

/**
 * GET /console: the auditors' and operators' page (Chinese), with its two assets. Public, like the docs: the page
 * itself holds no data; every call it makes to the API needs the secret the user types in.
 */
export function consoleRoutes(deps: ConsoleRouteDeps) {
  const page = ASSETS.page.replace("{{CONFIG}}", pageConfig(deps.timeZone));
  const answer = (body: string, type: string) => (request: Request) =>
    new Response(body, {
      headers: {
        "content-type": type,
        "content-security-policy": CONSOLE_CSP,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cache-control": "no-cache",
        "x-request-id": requestIdOf(request),
      },
    });
  const html = answer(page, "text/html; charset=utf-8");
  const script = answer(ASSETS.script, "text/javascript; charset=utf-8");
  const style = answer(ASSETS.style, "text/css; charset=utf-8");
  const detail = { hide: true, ...PUBLIC_ROUTE };
  return new Elysia({ name: "console-routes" })
    .get(CONSOLE_PATH, ({ request }) => html(request), { detail })
    .get(SCRIPT_PATH, ({ request }) => script(request), { detail })
    .get(STYLE_PATH, ({ request }) => style(request), { detail });
}
