import * as tf from '@tensorflow/tfjs-core';

/**
 * `tf.tidy` for any result type: every tensor reachable from the result (in arrays and plain objects) is
 * kept, every other tensor created inside is disposed.
 */
export function tidy<R>(fn: () => R): R {
  return tf.tidy(fn as unknown as () => tf.TensorContainer) as unknown as R;
}

/** Bytes of the distinct tensor data behind `tensors` (tensors sharing data count once). */
export function distinctBytes(tensors: Iterable<tf.Tensor>): number {
  const seen = new Set<unknown>();
  let bytes = 0;
  for (const t of tensors) {
    if (seen.has(t.dataId)) continue;
    seen.add(t.dataId);
    bytes += t.size * tf.util.bytesPerElement(t.dtype);
  }
  return bytes;
}

/**
 * A new tensor object on the same data (a same-shape reshape: no copy on any backend, unlike `tf.clone`,
 * which copies on wasm). Each of the two may be disposed independently.
 */
export function share<T extends tf.Tensor>(t: T): T {
  return tf.reshape(t, t.shape) as T;
}
