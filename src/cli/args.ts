/**
 * The command line's parser, driven by one table of flags per command (commands.ts). Node's
 * parseArgs was used before; its messages were written for programmers ("To specify a positional
 * argument starting with a '-' ...", "argument is ambiguous"), so strata parses the few forms it
 * accepts itself and says what a user needs: the unknown option and the one meant, or that
 * --max-layers needs a number.
 *
 * Accepted forms: `--flag`, `--flag VALUE`, `--flag=VALUE`, `-x VALUE`, `-xVALUE`, grouped short
 * booleans (`-qh`), `--` (the rest are positionals), and for a variadic flag several values in a
 * row (`--contents A B`), up to the next option.
 */
import { StrataError } from "../errors.js";

export interface FlagSpec {
  readonly type: "string" | "boolean";
  readonly short?: string;
  /** May be given more than once; the values form a list. */
  readonly multiple?: boolean;
  /** Takes every value up to the next option (`--contents A B`); implies multiple. */
  readonly variadic?: boolean;
  /** The value is a number: "needs a number" instead of "needs a value", and "-1" is a value. */
  readonly number?: boolean;
}

export type Flags = Readonly<Record<string, FlagSpec>>;
export type Values = Record<string, string | boolean | string[] | undefined>;

export interface Parsed {
  readonly values: Values;
  readonly positionals: string[];
}

export function parseCommandLine(command: string, args: readonly string[], flags: Flags, otherCommands: Readonly<Record<string, Flags>> = {}): Parsed {
  const values: Values = {};
  const positionals: string[] = [];
  const byShort = new Map(Object.entries(flags).flatMap(([name, f]) => (f.short === undefined ? [] : [[f.short, name] as const])));
  const set = (name: string, value: string | boolean): void => {
    const f = flags[name]!;
    if (f.multiple === true || f.variadic === true) values[name] = [...((values[name] as string[] | undefined) ?? []), value as string];
    else values[name] = value;
  };
  /** The value of a string flag: inline, or the next argument unless that is an option. */
  const take = (name: string, shown: string, inline: string | undefined, i: number): number => {
    if (inline !== undefined) {
      set(name, inline);
      return i;
    }
    const next = args[i + 1];
    const f = flags[name]!;
    if (next === undefined || (isOption(next) && !(f.number === true && /^-\d+$/.test(next)))) {
      const found = next === undefined ? "nothing after it" : `the option ${next}`;
      throw usage(`${shown} needs ${f.number === true ? "a number" : "a value"}, found ${found}`, `e.g. ${shown} ${f.number === true ? "4" : "VALUE"}; run \`strata ${command} --help\``);
    }
    set(name, next);
    let j = i + 1;
    while (f.variadic === true && args[j + 1] !== undefined && !isOption(args[j + 1]!)) set(name, args[++j]!);
    return j;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = eq === -1 ? a.slice(2) : a.slice(2, eq);
      const inline = eq === -1 ? undefined : a.slice(eq + 1);
      const f = flags[name];
      if (f === undefined) throw unknownOption(command, `--${name}`, flags, otherCommands);
      if (f.type === "boolean") {
        if (inline !== undefined) throw usage(`--${name} takes no value, got ${JSON.stringify(a)}`, `write just --${name}`);
        set(name, true);
      } else {
        i = take(name, `--${name}`, inline, i);
      }
    } else if (isOption(a)) {
      // A group of short flags: booleans, the last one may take a value (-j4, -o FILE).
      for (let k = 1; k < a.length; k++) {
        const name = byShort.get(a[k]!);
        if (name === undefined) throw unknownOption(command, `-${a[k]}`, flags, otherCommands);
        if (flags[name]!.type === "boolean") {
          set(name, true);
          continue;
        }
        const rest = a.slice(k + 1);
        i = take(name, `-${a[k]}`, rest === "" ? undefined : rest, i);
        break;
      }
    } else {
      positionals.push(a);
    }
  }
  return { values, positionals };
}

/** "-" alone is a value (stdin), not an option. */
function isOption(arg: string): boolean {
  return arg.startsWith("-") && arg !== "-";
}

function unknownOption(command: string, option: string, flags: Flags, others: Readonly<Record<string, Flags>>): StrataError {
  const near = option.startsWith("--") ? closest(option.slice(2), Object.keys(flags)) : undefined;
  if (near !== undefined) return usage(`unknown option ${option} (did you mean --${near}?)`, `run \`strata ${command} --help\` for its options`);
  const elsewhere = option.startsWith("--") ? Object.keys(others).filter((c) => c !== command && others[c]![option.slice(2)] !== undefined) : [];
  const hint = elsewhere.length > 0 ? `${option} is an option of strata ${elsewhere.join(" and strata ")}; run \`strata ${command} --help\` for this command's options` : `run \`strata ${command} --help\` for its options`;
  return usage(`unknown option ${option} for strata ${command}`, hint);
}

/** The candidate nearest to `word` (a typo, or an unambiguous prefix), if one is near enough. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const prefixed = candidates.filter((c) => c.startsWith(word));
  if (word.length >= 3 && prefixed.length === 1) return prefixed[0];
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = distance(word, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  // Two edits for a long word, one for a short one: beyond that a suggestion is a guess.
  return bestDistance <= (word.length > 4 ? 2 : 1) ? best : undefined;
}

/** Edit distance with transpositions (optimal string alignment): "contnets" is one edit from "contents". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

export function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** An integer flag's value (the parser already refused a missing one). */
export function int(value: unknown, flag: string): number {
  const s = str(value) ?? "";
  if (!/^-?\d+$/.test(s)) throw usage(`${flag} needs a whole number, got ${JSON.stringify(s)}`, `e.g. ${flag} 4`);
  return Number(s);
}

/** JSON.parse's messages quote the input, raw newlines included: an error is one line. */
export function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, " ");
}

function usage(message: string, hint: string): StrataError {
  return new StrataError("E_USAGE", message, hint);
}
