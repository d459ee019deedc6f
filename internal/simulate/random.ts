import prand from 'pure-rand';

/**
 * Seeded pseudo-random draws for the simulator, from pure-rand's xoroshiro128+
 * (a well-kept generator library), so one seed gives one run on every machine.
 * Each stream (arrival instants, give-ups, no-shows, time on site) has its own
 * generator derived from the seed: changing the share of no-shows does not move
 * anybody's arrival instant.
 */
export class Random {
  private readonly g: prand.RandomGenerator;

  constructor(seed: number, stream: number) {
    // Mixing the stream into the seed gives independent generators per stream.
    this.g = prand.xoroshiro128plus((seed ^ Math.imul(stream + 1, 0x9e3779b1)) >>> 0);
  }

  /** Uniform in [0, 1), 32 bits of precision. */
  next(): number {
    return prand.unsafeUniformIntDistribution(0, 0xffffffff, this.g) / 0x100000000;
  }

  /** True with probability p. */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.next() < p;
  }

  /** Exponential with the given mean. */
  exponential(mean: number): number {
    return -mean * Math.log(1 - this.next());
  }
}
