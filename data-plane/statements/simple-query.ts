import type { PolicyHolder } from "../../common/policy/runtime.js";
import type { QueryDecision, StatementInfo } from "../../proto/policy.js";
import { decodeQuery, type FrontendMessage } from "../protocol/frontend-messages.js";
import type { AnalyzeResult } from "../sql/analysis-cache.js";
import type { Decider } from "./decide.js";
import type { ShapeCache } from "./decision-cache.js";
import type { Denials } from "./denial.js";
import { shapeable, shapeOf } from "./plain-shape.js";
import type { ResultRewriter } from "./result-rewriter.js";
import type { SessionResolver } from "./session-resolution.js";
import { type Effect, effectOf, NO_EFFECT } from "./session-state.js";
import { changesState, copiesFromClient, isDdl } from "./statement-traits.js";
import type { Cycle, TransactionCycles } from "./transaction-cycles.js";

/**
 * A simple-protocol Query: its statements analysed (or taken from the shape cache), resolved and
 * decided in order, each on the state the ones before it leave; forwarded whole if every one is
 * allowed, else replaced by one denial.
 */

export interface SimpleQueryDependencies {
  policy: PolicyHolder;
  analyze(text: string): AnalyzeResult;
  shapes?: ShapeCache;
}

export class SimpleQueries {
  constructor(
    private readonly deps: SimpleQueryDependencies,
    private readonly cycles: TransactionCycles,
    private readonly resolver: SessionResolver,
    private readonly decider: Decider,
    private readonly denials: Denials,
    private readonly results: ResultRewriter,
  ) {}

  onQuery(message: FrontendMessage, toUpstream: Buffer[], cycle: Cycle): true | Promise<boolean> {
    const text = decodeQuery(message.body);
    // A plain statement whose shape (its text with literals replaced) was seen before needs no parse.
    const shape = shapeOf(text, this.deps.shapes, this.deps.policy);
    const template = shape?.template;
    const analysis: AnalyzeResult = template
      ? { ok: true, statements: [{ ...template, text: text.trim() }] }
      : this.deps.analyze(text);
    if (!analysis.ok) {
      this.denials.refuseUnparseable("simple", cycle, toUpstream, text, analysis);
      return true;
    }
    const statements = analysis.statements;
    const byShape =
      shape && statements.length === 1 && shapeable(statements[0]!) ? shape.normalized : undefined;
    if (byShape !== undefined && !template) this.deps.shapes?.set(byShape, statements[0]!);
    if (statements.length === 0) {
      toUpstream.push(message.raw); // empty query: the server answers EmptyQueryResponse
      return true;
    }
    if (!this.resolver.needsCatalog(statements)) {
      this.decideQuery(message, toUpstream, cycle, text, statements, byShape, template);
      return true;
    }
    return this.resolver.withCatalog(() =>
      this.decideQuery(message, toUpstream, cycle, text, statements, byShape, template),
    );
  }

  private decideQuery(
    message: FrontendMessage,
    toUpstream: Buffer[],
    cycle: Cycle,
    text: string,
    statements: StatementInfo[],
    byShape: string | undefined,
    /** The shape cache's analysis the only statement was made from (its text aside). */
    template: StatementInfo | undefined,
  ): void {
    const cycles = this.cycles;
    const catalog = this.resolver.decisionCatalog();
    // Statements run in order, each with the state the earlier ones leave (a search_path, a
    // transaction ended, a statement prepared): decided on a copy (made at the first statement that
    // changes it), kept only if all of it is allowed.
    let trial = cycles.spec;
    const decided: { info: StatementInfo; decision: QueryDecision; effect: Effect }[] = [];
    let denied = false;
    for (let i = 0; i < statements.length; i++) {
      const raw = statements[i]!;
      const pathKey = trial.key();
      const { info, reasons } =
        template !== undefined
          ? this.resolver.resolveShaped(template, raw, trial, catalog)
          : this.resolver.resolve(raw, trial, catalog);
      const decision =
        reasons.length > 0
          ? this.decider.refuse("simple", info, reasons)
          : this.decider.decide(info, "simple", i, statements.length, catalog, pathKey, byShape).decision;
      const effect = effectOf(
        raw,
        info,
        decision.mask ?? [],
        info.kind === "prepare" ? this.resolver.resolutionKey(trial, catalog) : pathKey,
        catalog,
        this.decider.policyGeneration,
      );
      decided.push({ info, decision, effect });
      if (!decision.allow) denied = true;
      if (effect !== NO_EFFECT) {
        if (trial === cycles.spec) trial = cycles.spec.clone();
        effect(trial);
      }
      // the statements after it are decided as the server will run them: on a catalog it changed
      if (isDdl(info) && !trial.ddl) {
        if (trial === cycles.spec) trial = cycles.spec.clone();
        trial.ddl = true;
      }
    }
    if (denied) {
      const refused = decided.filter((d) => !d.decision.allow);
      const reasons = refused.flatMap((d) => d.decision.reasons);
      this.denials.deny("simple", cycle, toUpstream, text, refused[0]!.info, reasons, false);
      return;
    }
    cycles.spec = trial;
    toUpstream.push(message.raw);
    for (const d of decided) {
      cycle.completions.push(d.effect);
      if (changesState(d.info)) cycle.tracked = true;
      if (isDdl(d.info)) cycles.ddlSent(cycle);
      this.results.add(d.decision.mask);
      cycles.executed(d.info);
      if (copiesFromClient(d.info)) cycles.copyFromClient = true;
    }
    // with every mask of the query added
    for (const d of decided) {
      if (this.results.mayReturnMasked(d.info)) {
        this.results.simpleMasking = true;
        break;
      }
    }
  }
}
