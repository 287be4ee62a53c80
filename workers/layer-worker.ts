/**
 * piscina entry for layer tasks. Thin: the work is in src/pool/build-layer.ts.
 */
import { buildLayer } from "../src/pool/build-layer.js";
import type { ChannelSpec, LayerDigest, LayerTask } from "../src/pool/protocol.js";

export default function layerTask(task: LayerTask & { readonly channel: ChannelSpec }): LayerDigest | undefined {
  return buildLayer(task, task.channel);
}
