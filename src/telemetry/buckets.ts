/**
 * Histogram bucket bounds, in seconds (or tokens), shaped for what each
 * measures: the SDK's defaults are millisecond-shaped and would put every
 * turn in one bucket.
 */

/** Time to first token/chunk: 5 ms to 10 s. */
export const FIRST_CHUNK_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A model call or a whole turn: 10 ms to 120 s. */
export const TURN_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120];

/** An RPC: unary calls take a millisecond, streams as long as a turn. */
export const RPC_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** A tool call: 1 ms to 30 s. */
export const TOOL_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Tokens per call, as the GenAI semantic conventions advise. */
export const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
