import packageJson from "../package.json" with { type: "json" };

// `make build` passes --define BUILD_COMMIT='"<git commit>"'; running from source there is none.
declare const BUILD_COMMIT_DEFINE: string | undefined;

/** The commit the binary was built from, or "source" when running the TypeScript directly. */
export const BUILD_COMMIT: string = typeof BUILD_COMMIT_DEFINE === "string" ? BUILD_COMMIT_DEFINE : "source";

export const VERSION = packageJson.version;
