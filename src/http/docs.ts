import { swagger } from "@elysiajs/swagger";
import { Elysia } from "elysia";
// Embedded in the binary: the docs page must work on a server with no internet access.
import scalarBundle from "../../node_modules/@scalar/api-reference/dist/browser/standalone.js" with { type: "file" };
import { documentation } from "./openapi";

export const DOCS_PATH = "/swagger";
const SCALAR_PATH = `${DOCS_PATH}/assets/scalar.js`;

/**
 * The docs' routes, declared public here. The swagger plugin's own routes take no `detail` from us (and a guard
 * around the plugin would hide every other route from the document), so they are named instead.
 */
export const DOCS_PUBLIC_ROUTES = [DOCS_PATH, `${DOCS_PATH}/json`, SCALAR_PATH] as const;

/** Swagger (Scalar) at /swagger and the OpenAPI JSON at /swagger/json, fully offline: no CDN, no web font. */
export function docs(version: string) {
  return new Elysia({ name: "docs" })
    .get(SCALAR_PATH, () => new Response(Bun.file(scalarBundle), { headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "public, max-age=86400" } }), {
      detail: { hide: true },
    })
    .use(
      swagger({
        path: DOCS_PATH,
        provider: "scalar",
        scalarCDN: SCALAR_PATH,
        // Nothing that would reach out: no web fonts, no telemetry, no hosted AI agent, MCP or developer-tools bar.
        scalarConfig: {
          withDefaultFonts: false,
          telemetry: false,
          hideClientButton: true,
          showDeveloperTools: "never",
          agent: { disabled: true },
          mcp: { disabled: true },
          // The secret is what every call needs: the auth panel starts on it, not on "No authentication selected".
          authentication: { preferredSecurityScheme: "InternalSecret" },
        } as Record<string, unknown>,
        documentation: documentation(version) as Parameters<typeof swagger>[0] extends infer O ? (O extends { documentation?: infer D } ? D : never) : never,
        exclude: [...DOCS_PUBLIC_ROUTES],
      }),
    );
}
