/**
 * A stored bundle as a publisher needs it: its signed bytes and what the pointer says of them. One row
 * shape and one conversion for every query that hands a bundle to the distributor (the active one, a
 * canary's, the shadow one): select `SIGNED_BUNDLE_COLUMNS` from `bundles b`.
 */

export const SIGNED_BUNDLE_COLUMNS =
  "b.revision, b.sha256, b.signature, b.size_bytes, b.bundle, coalesce(b.sequence, 0) AS manifest_sequence";

export interface SignedBundleRow {
  revision: string;
  sha256: string;
  signature: string;
  size_bytes: number;
  bundle: Buffer;
  manifest_sequence: number;
}

export interface SignedBundle {
  revision: string;
  sha256: string;
  signature: string;
  sizeBytes: number;
  bytes: Uint8Array;
  /** The bundle manifest's sequence (0 when it has none). */
  manifestSequence: number;
}

export function signedBundle(row: SignedBundleRow): SignedBundle {
  return {
    revision: row.revision,
    sha256: row.sha256,
    signature: row.signature,
    sizeBytes: row.size_bytes,
    bytes: new Uint8Array(row.bundle),
    manifestSequence: row.manifest_sequence,
  };
}
