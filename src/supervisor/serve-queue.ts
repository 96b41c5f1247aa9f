// How many upload-packs the hub runs at once: each one is a git process packing objects, and a
// fleet of spokes fetching the same publish together must not take the CPU from the hub's own
// syncing. Beyond `running`, requests wait their turn; beyond `waiting` as well, they are refused
// (503 with Retry-After), which a spoke treats as a failed fetch and retries.

export class QueueFull extends Error {
  override readonly name = 'QueueFull';
}

export class ServeQueue {
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(
    readonly running: number,
    readonly waiting: number,
    /** Told the sizes after every change (for a gauge). */
    private readonly onChange: (size: { active: number; queued: number }) => void = () => undefined,
  ) {}

  get size(): { active: number; queued: number } {
    return { active: this.active, queued: this.queue.length };
  }

  /** Run `job` when a slot is free; throws QueueFull at once when too many are waiting already. */
  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.active >= this.running) {
      if (this.queue.length >= this.waiting) throw new QueueFull(`${this.active} fetches are running and ${this.queue.length} waiting`);
      const turn = new Promise<void>((resolve) => this.queue.push(resolve));
      this.onChange(this.size);
      await turn;
    } else this.active++;
    this.onChange(this.size);
    try {
      return await job();
    } finally {
      const next = this.queue.shift();
      // The slot passes straight to the next in line; `active` only falls when nobody waits.
      if (next !== undefined) next();
      else this.active--;
      this.onChange(this.size);
    }
  }
}
