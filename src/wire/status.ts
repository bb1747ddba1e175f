/**
 * What a wire-format check can say about untrusted bytes: 0 for well formed,
 * else one of these codes. They are the first entries of the drop-reason list
 * (src/packet/reasons.ts takes them in this order), so a stage passes a check's
 * result on as a drop reason with no translation.
 */
export const Status = {
  OK: 0,
  /** The bytes end before a header they announce. */
  TRUNCATED: 1,
  /** A length field disagrees with the bytes present. */
  BAD_LENGTH: 2,
  /** A checksum does not verify. */
  BAD_CHECKSUM: 3,
  /** An IP fragment. */
  FRAGMENT: 4,
  /** A header field has a value the RFC forbids. */
  BAD_HEADER: 5,
  /** Valid, but a protocol or form this code does not take. */
  UNSUPPORTED: 6,
} as const;

/** The reason names of the codes above, in code order (index 0 is OK). */
export const STATUS_NAMES = ['', 'truncated', 'bad-length', 'bad-checksum', 'fragment', 'bad-header', 'unsupported'] as const;
