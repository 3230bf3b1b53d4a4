import { closeSync, constants, openSync, writeSync } from "node:fs";

/**
 * A named pipe that feeds a child an export and is never closed: the child reads every line but never the end of
 * the file, so it is certainly still running, midway, when the test kills it (no race with its end). Opened for
 * reading too, without waiting (Linux): a child that never opens it cannot hang the test.
 */
export class EndlessPipe {
  private readonly fd: number;

  constructor(readonly path: string) {
    const made = Bun.spawnSync(["mkfifo", path]);
    if (made.exitCode !== 0) throw new Error(`mkfifo ${path} failed: ${made.stderr.toString()}`);
    this.fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  }

  /** Writes all of `text`, waiting while the pipe is full; if the reader has exited meanwhile, throws `ended()`. */
  async feed(text: string, hasExited: () => boolean, ended: () => Promise<Error>): Promise<void> {
    const bytes = new TextEncoder().encode(text);
    for (let offset = 0; offset < bytes.length; ) {
      try {
        offset += writeSync(this.fd, bytes, offset, bytes.length - offset);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw error;
        if (hasExited()) throw await ended();
        await Bun.sleep(2);
      }
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}
