/**
 * A pass-through that checks a blob as it streams: never more than `size` bytes, exactly `size`
 * at the end, and the sha256 named. A mismatch is an E_CHECKSUM error on the stream before it
 * ends, so a consumer never sees unverified bytes as a complete blob.
 */
import { Transform, type TransformCallback } from "node:stream";
import { type Digest, asDigest, sha256 } from "../../digest.js";
import { StrataError } from "../../errors.js";

export class VerifyingStream extends Transform {
  private readonly hash = sha256();
  private seen = 0;

  constructor(private readonly digest: Digest, private readonly size: number | undefined, private readonly what: string) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.seen += chunk.length;
    if (this.size !== undefined && this.seen > this.size) {
      done(new StrataError("E_CHECKSUM", `${this.what} is longer than the ${this.size} bytes named`, "the registry serves other bytes than the image names; do not use this image"));
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.size !== undefined && this.seen !== this.size) {
      done(new StrataError("E_CHECKSUM", `${this.what} has ${this.seen} bytes, ${this.size} named`, "the download was cut short or the registry serves other bytes; try again"));
      return;
    }
    const got = asDigest(this.hash.hex());
    if (got !== this.digest) {
      done(new StrataError("E_CHECKSUM", `${this.what} hashes to ${got}`, "the registry serves other bytes than the digest names; do not use this image"));
      return;
    }
    done();
  }
}
