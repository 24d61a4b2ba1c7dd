/**
 * The policy input of a decision as the decision log keeps it (DecisionRecord.input_json), for
 * impact replay: the input exactly as the policy saw it, except that no literal value leaves the
 * process — every statement text (the inner statement's too) becomes its normalized form (literals
 * replaced by $1, $2, … as the record's `sql`) and every literal setting value becomes null.
 */
import type { QueryInput, StatementInfo } from "../../proto/policy.js";

function sanitize(info: StatementInfo, placeholders: (text: string) => string, depth: number): StatementInfo {
  const out: StatementInfo = { ...info, text: placeholders(info.text) };
  if (info.settings) out.settings = info.settings.map((s) => ({ ...s, value: null }));
  if (info.inner && depth < 8) out.inner = sanitize(info.inner, placeholders, depth + 1);
  return out;
}

/** The statement input with placeholders instead of literals. */
export function replayableQueryInput(input: QueryInput, placeholders: (text: string) => string): QueryInput {
  return { ...input, statement: sanitize(input.statement, placeholders, 0) };
}
