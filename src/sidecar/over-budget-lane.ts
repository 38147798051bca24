// A separate, throttled lane for requests to flags whose rules recently ran out of evaluation
// budget. Such a flag is being flooded with contexts that make its rules run away: even on the
// reduced budget each of its requests costs a fraction of a millisecond (mostly parsing a body of
// up to 64 KiB), and handled in arrival order a few connections' worth of them sit ahead of every
// other flag's request. Here they are parsed and evaluated one per event-loop turn, flags taking
// turns, so a request for any other flag waits behind at most one of them; and a flag with too
// many requests already waiting has the next ones refused before their bodies are parsed.

interface FlagLane {
  /** Requests admitted and not yet finished (their body may still be arriving). */
  admitted: number;
  /** Jobs whose bodies have arrived, in arrival order. */
  readonly jobs: (() => void)[];
  queued: number;
  refused: number;
}

export class OverBudgetLane {
  readonly #flags = new Map<string, FlagLane>();
  /** Flags with jobs ready, in the order they take turns. */
  readonly #turns: string[] = [];
  #scheduled = false;
  #waiting = 0;

  /**
   * @param maxWaitingPerFlag requests of one flag that may wait at once; more are refused.
   * @param schedule runs a callback on a later turn of the event loop, after the I/O of this one
   *   (setImmediate), so requests that arrived meanwhile for other flags are answered first.
   */
  constructor(
    readonly maxWaitingPerFlag: number,
    private readonly schedule: (run: () => void) => void = setImmediate,
  ) {}

  /** Requests admitted and not yet finished, over all flags. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Queued and refused requests so far, per flag. */
  counts(): IterableIterator<[string, { readonly queued: number; readonly refused: number }]> {
    return this.#flags.entries();
  }

  /**
   * Takes a place for one request of `flag`, or returns false when the flag already has
   * maxWaitingPerFlag waiting: the request is then to be refused without reading its body.
   */
  admit(flag: string): boolean {
    let lane = this.#flags.get(flag);
    if (lane === undefined) {
      lane = { admitted: 0, jobs: [], queued: 0, refused: 0 };
      this.#flags.set(flag, lane);
    }
    if (lane.admitted >= this.maxWaitingPerFlag) {
      lane.refused++;
      return false;
    }
    lane.admitted++;
    lane.queued++;
    this.#waiting++;
    return true;
  }

  /** Gives back the place of an admitted request that will not run (its body could not be read). */
  release(flag: string): void {
    const lane = this.#flags.get(flag);
    if (lane === undefined || lane.admitted === 0) return;
    lane.admitted--;
    this.#waiting--;
  }

  /**
   * Runs `job` for an admitted request of `flag` on a later turn: one job per turn over all flags,
   * each flag's in arrival order, flags in turn. The request's place is given back as it runs.
   */
  enqueue(flag: string, job: () => void): void {
    const lane = this.#flags.get(flag);
    if (lane === undefined) throw new Error(`no place was taken for flag ${flag}`);
    if (lane.jobs.length === 0) this.#turns.push(flag);
    lane.jobs.push(job);
    this.#wake();
  }

  #wake(): void {
    if (this.#scheduled || this.#turns.length === 0) return;
    this.#scheduled = true;
    this.schedule(() => this.#runOne());
  }

  #runOne(): void {
    this.#scheduled = false;
    const flag = this.#turns.shift();
    if (flag === undefined) return;
    const lane = this.#flags.get(flag) as FlagLane;
    const job = lane.jobs.shift() as () => void;
    if (lane.jobs.length > 0) this.#turns.push(flag);
    this.release(flag);
    try {
      job();
    } finally {
      this.#wake();
    }
  }
}
