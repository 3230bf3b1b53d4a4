/** A port that was free a moment ago on 127.0.0.1 (for a server told its port, not one asked to pick). */
export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}
