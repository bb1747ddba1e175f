/** Plain text tables for people: columns padded to their widest cell, numbers to the right. */
export function table(head: string[], rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? String(c) : c)));
  const right = head.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => (right[i] ? c.padStart(width[i]!) : c.padEnd(width[i]!))).join('  ').trimEnd();
  return [line(head), ...cells.map(line)].join('\n');
}
