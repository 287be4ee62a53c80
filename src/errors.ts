/**
 * The one error class strata throws on purpose. Every failure a user can cause or meet has a code
 * from a closed list (documented, and tested, in docs/errors.md), a message that says what was
 * expected and what was found, and a hint that says what to do about it.
 *
 * Errors cross the piscina worker boundary by structured clone, which keeps only plain data: so a
 * StrataError travels as a plain object (`toWire`) and is rebuilt in the main thread (`fromWire`),
 * code intact.
 */

export const ERROR_CODES = [
  /** The command line or the library options are wrong. */
  "E_USAGE",
  /** A closure input (conf.json, references graph, path-info JSON) is malformed or inconsistent. */
  "E_CLOSURE_INPUT",
  /** A store path is missing, outside the store directory, or of a kind a layer cannot hold. */
  "E_STORE_PATH",
  /** A file could not be read (permissions, I/O error). */
  "E_READ",
  /** A file changed between planning and reading: its size or kind is no longer what was planned. */
  "E_FILE_CHANGED",
  /** A checksum given with an input does not match the input's bytes. */
  "E_CHECKSUM",
  /** The output could not be written (full disk, no permission, ...). */
  "E_WRITE",
  /** The reader of the output went away (a closed pipe). */
  "E_OUTPUT_CLOSED",
  /** The layer plan cannot be made within the layer budget. */
  "E_LAYER_BUDGET",
  /** The input asks for something strata does not do (yet). */
  "E_UNSUPPORTED",
  /** A registry refused a request or failed (after retries), or could not be reached. */
  "E_REGISTRY",
  /** Registry credentials are missing, wrong, or not allowed to do what was asked. */
  "E_AUTH",
  /** The build was interrupted (Ctrl-C, SIGTERM, an AbortSignal). */
  "E_ABORTED",
  /** A bug in strata: please report it. */
  "E_INTERNAL",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface StrataErrorWire {
  readonly __strataError: true;
  readonly code: ErrorCode;
  readonly message: string;
  readonly hint: string;
  readonly causeMessage?: string;
}

export class StrataError extends Error {
  override readonly name = "StrataError";
  readonly code: ErrorCode;
  readonly hint: string;

  constructor(code: ErrorCode, message: string, hint: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = hint;
  }

  toWire(): StrataErrorWire {
    const cause = this.cause;
    return {
      __strataError: true,
      code: this.code,
      message: this.message,
      hint: this.hint,
      ...(cause instanceof Error ? { causeMessage: cause.message } : {}),
    };
  }

  static fromWire(wire: StrataErrorWire): StrataError {
    const cause = wire.causeMessage === undefined ? undefined : new Error(wire.causeMessage);
    return new StrataError(wire.code, wire.message, wire.hint, { cause });
  }
}

export function isStrataErrorWire(value: unknown): value is StrataErrorWire {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { __strataError?: unknown }).__strataError === true &&
    ERROR_CODES.includes((value as { code: ErrorCode }).code)
  );
}

/**
 * Anything thrown, as a StrataError: a StrataError or its wire form as it is, a Node system error
 * mapped by its errno code, anything else as E_INTERNAL.
 */
export function toStrataError(err: unknown, context?: string): StrataError {
  if (err instanceof StrataError) return err;
  if (isStrataErrorWire(err)) return StrataError.fromWire(err);
  // piscina wraps errors thrown in a worker; the wire form then sits in the message as JSON or
  // as a property. Workers throw the wire object itself, which structured clone keeps.
  const where = context === undefined ? "" : `${context}: `;
  if ((err as { name?: unknown } | null)?.name === "AbortError") {
    return new StrataError("E_ABORTED", `${where}the build was cancelled`, "nothing to do", { cause: err });
  }
  const errno = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  switch (errno) {
    case "ENOSPC":
    case "EDQUOT":
      return new StrataError("E_WRITE", `${where}no space left on the device`, "free some space, or write the output elsewhere with -o", { cause: err });
    case "EPIPE":
    case "ERR_STREAM_DESTROYED":
      return new StrataError("E_OUTPUT_CLOSED", `${where}the reader of the output went away`, "nothing to do if you closed it on purpose", { cause: err });
    case "EACCES":
    case "EPERM":
      return new StrataError("E_READ", `${where}permission denied (${message})`, "check the file's permissions", { cause: err });
    case "ENOENT":
      return new StrataError("E_STORE_PATH", `${where}no such file (${message})`, "check that the path exists", { cause: err });
    case "EIO":
      return new StrataError("E_READ", `${where}I/O error (${message})`, "check the disk", { cause: err });
    default:
      return new StrataError("E_INTERNAL", `${where}${message}`, "this is a bug in strata; please report it with --debug output", { cause: err });
  }
}
