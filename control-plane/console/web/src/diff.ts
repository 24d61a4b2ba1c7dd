/** A line diff (longest common subsequence), enough for policy files of a few thousand lines. */
export type DiffLine = { kind: " " | "+" | "-"; text: string };

export function diffLines(before: string, after: string): DiffLine[] {
  const a = before === "" ? [] : before.replace(/\n$/, "").split("\n");
  const b = after === "" ? [] : after.replace(/\n$/, "").split("\n");
  const n = a.length;
  const m = b.length;
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push({ kind: " ", text: a[i]! });
      i++;
      j++;
    } else if (lcs[i + 1]![j]! >= lcs[i]![j + 1]!) out.push({ kind: "-", text: a[i++]! });
    else out.push({ kind: "+", text: b[j++]! });
  }
  while (i < n) out.push({ kind: "-", text: a[i++]! });
  while (j < m) out.push({ kind: "+", text: b[j++]! });
  return out;
}

/** Only the changed lines with `context` lines around them; gaps become a "…" line. */
export function hunks(lines: DiffLine[], context = 3): (DiffLine | "gap")[] {
  const keep = new Set<number>();
  lines.forEach((l, i) => {
    if (l.kind !== " ") for (let k = i - context; k <= i + context; k++) keep.add(k);
  });
  const out: (DiffLine | "gap")[] = [];
  let last = -1;
  lines.forEach((l, i) => {
    if (!keep.has(i)) return;
    if (last !== -1 && i > last + 1) out.push("gap");
    out.push(l);
    last = i;
  });
  return out;
}
