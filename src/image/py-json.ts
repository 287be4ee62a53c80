/**
 * JSON and reprs exactly as nixpkgs' stream script writes them with Python, so that the image
 * config (and so the image ID) strata writes for a conf.json is the one nixpkgs writes:
 * `json.dumps(value, indent=4)` — 4-space indent, `", "`-free item separators at line ends,
 * `": "` after keys, ensure_ascii (`\uXXXX`, lowercase, surrogate pairs), no trailing newline;
 * and Python's `repr()` of a list of strings for history comments.
 */

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };

export function pythonJsonDumps(value: JsonValue, indent = 4): string {
  return dump(value, indent, 0);
}

function dump(value: JsonValue, indent: number, depth: number): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return pythonNumber(value);
  if (typeof value === "string") return pythonJsonString(value);
  const pad = "\n" + " ".repeat(indent * (depth + 1));
  const close = "\n" + " ".repeat(indent * depth);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return "[" + value.map((v: JsonValue) => pad + dump(v, indent, depth + 1)).join(",") + close + "]";
  }
  const entries = Object.entries(value as { readonly [key: string]: JsonValue });
  if (entries.length === 0) return "{}";
  return "{" + entries.map(([k, v]) => pad + pythonJsonString(k) + ": " + dump(v, indent, depth + 1)).join(",") + close + "}";
}

/**
 * Numbers as Python prints what json.loads gave it. JSON.parse cannot tell `2` from `2.0`, so
 * integral values print as ints (what Nix's builtins.toJSON writes for Nix integers); other values
 * use the shortest round-trip digits, as both languages do, with Python's two-digit exponent.
 */
function pythonNumber(n: number): string {
  if (!Number.isFinite(n)) throw new TypeError(`cannot write ${n} as JSON`);
  const s = String(n);
  const m = /^(-?[\d.]+)e([+-])(\d+)$/.exec(s);
  return m ? `${m[1]}e${m[2]}${m[3]!.padStart(2, "0")}` : s;
}

/**
 * Strings that need no escape, either way: printable ASCII without the quotes and backslash.
 * Store paths, digests and most config values are; they are copied whole. Building the others
 * character by character makes a string object per character: for the history comments of a
 * 4 GB closure's config (its 2,000 store paths), ~9 MB of garbage at the end of the build.
 */
const PLAIN_JSON = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const PLAIN_REPR = /^[\x20-\x26\x28-\x5b\x5d-\x7e]*$/;

/** A JSON string literal with ensure_ascii, as Python's json module writes it. */
export function pythonJsonString(s: string): string {
  if (PLAIN_JSON.test(s)) return `"${s}"`;
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c === 0x0a) out += "\\n";
    else if (c === 0x0d) out += "\\r";
    else if (c === 0x09) out += "\\t";
    else if (c === 0x08) out += "\\b";
    else if (c === 0x0c) out += "\\f";
    else if (c < 0x20 || c > 0x7e) out += "\\u" + c.toString(16).padStart(4, "0");
    else out += s[i];
  }
  return out + '"';
}

/** Python's repr() of a list of str, e.g. `['/nix/store/a', '/nix/store/b']`. */
export function pythonReprList(items: readonly string[]): string {
  return "[" + items.map(pythonReprString).join(", ") + "]";
}

/** Python's repr() of a str: single quotes unless it holds ' and no ", printable chars kept. */
export function pythonReprString(s: string): string {
  if (PLAIN_REPR.test(s)) return `'${s}'`;
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === quote || ch === "\\") out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (cp < 0x20 || cp === 0x7f) out += "\\x" + cp.toString(16).padStart(2, "0");
    else if (cp >= 0x80 && !isPrintable(cp)) {
      out += cp <= 0xff ? "\\x" + cp.toString(16).padStart(2, "0") : cp <= 0xffff ? "\\u" + cp.toString(16).padStart(4, "0") : "\\U" + cp.toString(16).padStart(8, "0");
    } else out += ch;
  }
  return out + quote;
}

/** Python's str.isprintable() for non-ASCII, approximated by Unicode categories JS can test. */
function isPrintable(cp: number): boolean {
  return !/[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u.test(String.fromCodePoint(cp)) || cp === 0x20;
}
