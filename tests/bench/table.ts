/** Markdown table printer shared by the benchmarks. */
export function printTable(headers: string[], rows: (string | number)[][]): void {
  const fmt = (v: string | number): string => (typeof v === 'number' ? formatNumber(v) : v);
  console.log(`| ${headers.join(' | ')} |`);
  console.log(`| ${headers.map(() => '---').join(' | ')} |`);
  for (const r of rows) console.log(`| ${r.map(fmt).join(' | ')} |`);
  console.log('');
}

export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(3);
}

/** p-th percentile (0..100) of unsorted samples. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** Verdict cell for a target check. */
export const verdict = (pass: boolean): string => (pass ? 'PASS' : 'MISS');
