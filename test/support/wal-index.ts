import { readFileSync } from "node:fs";

/**
 * The WAL's frames since it last started over, and how many of them are copied into the database file, read from
 * the wal-index header in the -shm file (https://www.sqlite.org/walformat.html: mxFrame at byte 16, nBackfill at
 * byte 96, in the machine's byte order): looking must not copy anything, as a checkpoint by the test would.
 */
export function walIndex(dbPath: string): { frames: number; copied: number } {
  const header = readFileSync(`${dbPath}-shm`).subarray(0, 136);
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  return { frames: view.getUint32(16, littleEndian), copied: view.getUint32(96, littleEndian) };
}
