/**
 * A bounded-memory sort of export records: records are buffered up to RUN_RECORDS, sorted, and
 * written as a run file (one JSON record a line); reading merges the runs. So memory is one run's
 * worth of records plus a line per open run, whatever the number of entries in the image.
 */
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { compareRecs, type Rec } from "./records.js";

/** Records held before a run is written: ~300 bytes each in memory, so ~20 MB. */
const RUN_RECORDS = 65_536;
/** Runs merged at once; more runs are first merged in groups of this many into longer runs. */
const FAN_IN = 32;

export class RunWriter {
  private buffer: Rec[] = [];
  private readonly runs: string[] = [];

  constructor(private readonly dir: string, private readonly prefix: string, private readonly runRecords = RUN_RECORDS) {}

  async add(rec: Rec): Promise<void> {
    this.buffer.push(rec);
    if (this.buffer.length >= this.runRecords) await this.flush();
  }

  /** Every record added so far, as sorted run files. */
  async finish(): Promise<string[]> {
    await this.flush();
    return [...this.runs];
  }

  private async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    this.buffer.sort(compareRecs);
    const file = path.join(this.dir, `${this.prefix}-${this.runs.length}.jsonl`);
    await writeLines(file, this.buffer.map((r) => JSON.stringify(r)));
    this.buffer = [];
    this.runs.push(file);
  }
}

async function writeLines(file: string, lines: Iterable<string> | AsyncIterable<string>): Promise<void> {
  // pipeline() settles on the first error (a failed open included) instead of waiting for a drain.
  await pipeline(Readable.from((async function* () {
    for await (const line of lines) yield line + "\n";
  })()), fs.createWriteStream(file, { flags: "wx", mode: 0o600 }));
}

async function* readRun(file: string): AsyncGenerator<Rec> {
  const lines = readline.createInterface({ input: fs.createReadStream(file, { highWaterMark: 64 << 10 }), crlfDelay: Infinity });
  for await (const line of lines) if (line !== "") yield JSON.parse(line) as Rec;
}

/** Merge passes so far: names the intermediate runs, unique within the process. */
let merges = 0;

/** The records of `runs` (each sorted) in one sorted sequence; more than FAN_IN runs are merged in passes first. */
export async function* mergeRuns(runs: readonly string[], dir: string): AsyncGenerator<Rec> {
  let pending = [...runs];
  const pass = merges++;
  while (pending.length > FAN_IN) {
    const next: string[] = [];
    for (let i = 0; i < pending.length; i += FAN_IN) {
      const file = path.join(dir, `merge-${pass}-${next.length}-${pending.length}.jsonl`);
      await writeLines(file, (async function* () {
        for await (const r of mergeFew(pending.slice(i, i + FAN_IN))) yield JSON.stringify(r);
      })());
      next.push(file);
    }
    pending = next;
  }
  yield* mergeFew(pending);
}

/** A k-way merge of at most FAN_IN sorted runs: a linear scan for the least head is cheap at this k. */
async function* mergeFew(runs: readonly string[]): AsyncGenerator<Rec> {
  const its = runs.map((f) => readRun(f));
  const heads: (Rec | undefined)[] = await Promise.all(its.map(async (it) => (await it.next()).value ?? undefined));
  for (;;) {
    let min = -1;
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i];
      if (h !== undefined && (min < 0 || compareRecs(h, heads[min]!) < 0)) min = i;
    }
    if (min < 0) return;
    yield heads[min]!;
    heads[min] = (await its[min]!.next()).value ?? undefined;
  }
}
