/**
 * Where archive bytes go next: a sink (file, stdout) or a compression stage in front of one.
 * `write` resolves when the bytes may be reused and the caller may send more (backpressure);
 * the caller must not write again before it resolves.
 */
export interface ByteOutput {
  write(bytes: Uint8Array): Promise<void>;
}

/** The end of the pipeline: bytes land somewhere, and the result is kept or thrown away. */
export interface Sink extends ByteOutput {
  /** Everything was written: flush, and make the output visible under its final name. */
  commit(): Promise<void>;
  /** Something failed: remove whatever was written, if it can be removed. */
  abort(): Promise<void>;
  /** Bytes written so far. */
  readonly bytesWritten: number;
  /**
   * Present when the output is a regular file that may be written at any offset (pwrite) from
   * `base` on, from any thread: the positional writer then writes every layer at its place, in
   * parallel. Bytes written that way are counted with `wrote()`; commit() and abort() work as ever.
   */
  readonly randomAccess?: { readonly fd: number; readonly base: number; wrote(bytes: number): void } | undefined;
}
