/**
 * Reading what a registry answered, for messages: one header, and distribution's error body
 * (`{"errors":[{"code","message"}]}`) as a short printable summary, size-limited.
 */
import { type HttpResponse, readBody } from "./transport.js";

const ERROR_BODY_LIMIT = 64 * 1024;

export function headerValue(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function hintFor(status: number): string {
  if (status === 404) return "check the repository name and that the image exists";
  if (status === 413) return "the registry refuses a blob this large; raise its limit";
  if (status === 400) return "the registry rejected what strata sent; push again, and report it if it persists";
  return "try again later; if it persists, tell the registry's operator";
}

/** `: CODE message` from a distribution error body, short and printable; "" when there is none. */
export async function errorSummary(res: HttpResponse): Promise<string> {
  let raw: Buffer;
  try {
    raw = await readBody(res, ERROR_BODY_LIMIT);
  } catch {
    return "";
  }
  try {
    const json = JSON.parse(raw.toString("utf8")) as { errors?: { code?: unknown; message?: unknown }[] };
    const first = json.errors?.[0];
    if (first !== undefined) {
      const text = `${typeof first.code === "string" ? first.code : ""} ${typeof first.message === "string" ? first.message : ""}`.trim();
      return text === "" ? "" : `: ${printable(text)}`;
    }
  } catch {
    // not distribution's JSON
  }
  return "";
}

function printable(s: string): string {
  const clean = s.replace(/[^\x20-\x7e]+/g, " ");
  return clean.length > 200 ? `${clean.slice(0, 200)}...` : clean;
}
