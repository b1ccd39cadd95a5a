// prng.mjs - mulberry32, the small deterministic generator the tests and
// benches draw their data and queries from (a fixed seed, never the clock).

/** A function returning numbers in [0, 1) from the 32-bit seed. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
