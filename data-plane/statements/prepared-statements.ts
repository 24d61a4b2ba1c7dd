import { serialize } from "pg-protocol";
import type { ColumnMask, StatementInfo } from "../../proto/policy.js";
import {
  decodeBind,
  decodeExecute,
  decodeParse,
  decodeTarget,
  type FrontendMessage,
} from "../protocol/frontend-messages.js";
import type { AnalyzeResult } from "../sql/analysis-cache.js";
import type { CatalogSnapshot } from "./catalog.js";
import type { Decider } from "./decide.js";
import { DENIAL_STATEMENT, type Denials, SYNTAX_ERROR_SQLSTATE } from "./denial.js";
import type { ResultRewriter } from "./result-rewriter.js";
import type { SessionResolver } from "./session-resolution.js";
import { effectOf, NO_EFFECT, type Prepared } from "./session-state.js";
import { changesState, copiesFromClient, emptyStatement, isDdl, readsSettings } from "./statement-traits.js";
import type { Cycle, TransactionCycles } from "./transaction-cycles.js";

/**
 * The extended protocol's Parse, Bind, Describe, Close and Execute: statements decided at their Parse
 * (and again at a Bind when what their names resolve to changed), the prepared statements and portals
 * the session holds, and the proxy's own Describe before each Execute of a masked session.
 */

/** The proxy's own Describe of the unnamed portal (the one almost every Execute runs), made once. */
const DESCRIBE_UNNAMED_PORTAL = serialize.describe({ type: "P", name: "" });

const RESERVED_NAME = `the prepared statement name "${DENIAL_STATEMENT}" is reserved by Portcullis`;

export class PreparedStatements {
  constructor(
    private readonly analyze: (text: string) => AnalyzeResult,
    private readonly cycles: TransactionCycles,
    private readonly resolver: SessionResolver,
    private readonly decider: Decider,
    private readonly denials: Denials,
    private readonly results: ResultRewriter,
  ) {}

  onDescribe(message: FrontendMessage, toUpstream: Buffer[], cycle: Cycle): true {
    const { target, name } = decodeTarget(message.body, "Describe");
    if (target === "S" && name === DENIAL_STATEMENT) {
      this.denials.deny("extended", cycle, toUpstream, `<Describe of prepared statement "${name}">`, null, [
        RESERVED_NAME,
      ]);
      return true;
    }
    cycle.describes++;
    toUpstream.push(message.raw);
    return true;
  }

  onClose(message: FrontendMessage, toUpstream: Buffer[], cycle: Cycle): true {
    const { target, name } = decodeTarget(message.body, "Close");
    if (target === "S" && name === DENIAL_STATEMENT) {
      this.denials.deny("extended", cycle, toUpstream, `<Close of prepared statement "${name}">`, null, [
        RESERVED_NAME,
      ]);
      return true;
    }
    if (target === "S") {
      // forgetting early is safe: an unknown statement is never run through the proxy
      this.cycles.spec.prepared.delete(name);
      this.cycles.confirmed.prepared.delete(name);
    } else this.cycles.portals.delete(name);
    toUpstream.push(message.raw);
    return true;
  }

  onParse(message: FrontendMessage, toUpstream: Buffer[], cycle: Cycle): true | Promise<boolean> {
    const parse = decodeParse(message.body);
    const unnamed = parse.name === "";
    if (parse.name === DENIAL_STATEMENT) {
      this.denials.deny("extended", cycle, toUpstream, parse.text, null, [RESERVED_NAME]);
      return true;
    }
    if (cycle.executes > 0 && readsSettings(message.raw)) {
      // The server parses it after running the statements before it in this sequence, which may have
      // changed standard_conforming_strings or client_encoding where the proxy cannot see (it reports
      // that only at the Sync): refused rather than read one way here and another way there.
      this.denials.deny(
        "extended",
        cycle,
        toUpstream,
        parse.text,
        null,
        [
          "a statement with a backslash after an Execute in the same sequence (before Sync) is not allowed through Portcullis: send a Sync first",
        ],
        true,
        undefined,
        unnamed,
      );
      return true;
    }
    const analysis = this.analyze(parse.text);
    if (!analysis.ok) {
      this.denials.refuseUnparseable("extended", cycle, toUpstream, parse.text, analysis, unnamed);
      return true;
    }
    if (analysis.statements.length > 1) {
      // the server's own answer to several statements in one Parse (42601), raised by the server
      this.denials.deny(
        "extended",
        cycle,
        toUpstream,
        parse.text,
        null,
        ["a prepared statement must hold exactly one statement"],
        true,
        { code: SYNTAX_ERROR_SQLSTATE, message: "cannot insert multiple commands into a prepared statement" },
        unnamed,
      );
      return true;
    }
    // The server drops the unnamed statement before it parses a new one (even one that fails).
    if (parse.name === "") this.cycles.forget("");
    if (analysis.statements.length === 0) {
      this.prepare(
        cycle,
        message,
        toUpstream,
        parse.name,
        emptyStatement(),
        emptyStatement(),
        [],
        this.cycles.spec.key(),
        undefined,
      );
      return true;
    }
    if (!this.resolver.needsCatalog(analysis.statements)) {
      this.decideParse(cycle, message, toUpstream, parse, analysis.statements[0]!);
      return true;
    }
    return this.resolver.withCatalog(() =>
      this.decideParse(cycle, message, toUpstream, parse, analysis.statements[0]!),
    );
  }

  private decideParse(
    cycle: Cycle,
    message: FrontendMessage,
    toUpstream: Buffer[],
    parse: { name: string; text: string },
    raw: StatementInfo,
  ): void {
    const spec = this.cycles.spec;
    const catalog = this.resolver.decisionCatalog();
    const pathKey = spec.key();
    const { info, reasons } = this.resolver.resolve(raw, spec, catalog);
    const decision =
      reasons.length > 0
        ? this.decider.refuse("extended", info, reasons)
        : this.decider.decide(info, "extended", 0, 1, catalog, pathKey).decision;
    if (!decision.allow) {
      this.denials.deny(
        "extended",
        cycle,
        toUpstream,
        parse.text,
        info,
        decision.reasons,
        false,
        undefined,
        parse.name === "",
      );
      return;
    }
    this.results.add(decision.mask);
    const key = this.resolver.resolutionKey(this.cycles.spec, catalog);
    this.prepare(cycle, message, toUpstream, parse.name, raw, info, decision.mask ?? [], key, catalog);
  }

  /** A Parse the proxy lets through: the statement is prepared, in `spec` now, confirmed at its ParseComplete. */
  private prepare(
    cycle: Cycle,
    message: FrontendMessage,
    toUpstream: Buffer[],
    name: string,
    raw: StatementInfo,
    info: StatementInfo,
    masks: ColumnMask[],
    pathKey: string,
    catalog: CatalogSnapshot | undefined,
  ): void {
    const prepared: Prepared = {
      raw,
      info,
      masks,
      pathKey,
      catalog,
      policyGeneration: this.decider.policyGeneration,
    };
    this.cycles.spec.prepared.set(name, prepared);
    cycle.parses.push((state) => state.prepared.set(name, prepared));
    // a named Parse fails if the name is taken: later cycles must know whether it did
    if (name !== "") cycle.tracked = true;
    toUpstream.push(message.raw);
  }

  onBind(message: FrontendMessage, toUpstream: Buffer[], cycle: Cycle): true | Promise<boolean> {
    const { portal, statement } = decodeBind(message.body);
    const prepared = this.cycles.spec.prepared.get(statement);
    if (!prepared) {
      this.denials.deny("extended", cycle, toUpstream, `<Bind of prepared statement "${statement}">`, null, [
        `prepared statement "${statement}" does not exist (Portcullis saw no Parse or PREPARE of it in this session)`,
      ]);
      return true;
    }
    const pathKey = this.cycles.spec.key();
    const current = this.resolver.decisionCatalog();
    const key = this.resolver.resolutionKey(this.cycles.spec, current);
    if (
      prepared.pathKey === key &&
      prepared.catalog === current &&
      prepared.policyGeneration === this.decider.policyGeneration
    ) {
      this.bind(message, toUpstream, portal, prepared.raw, prepared.info, prepared.masks, key, current);
      return true;
    }
    // The search_path, the schemas of it the role may use, the catalog or the policy (a bundle, a
    // grant) changed since the Parse: the server may resolve the statement's names again now, so the
    // proxy decides again on what they resolve to (and keeps that resolution, with what it was made
    // with, for the next Bind).
    const rebind = () => {
      const catalog = this.resolver.decisionCatalog();
      const { info, reasons } = this.resolver.resolve(prepared.raw, this.cycles.spec, catalog);
      const decision =
        reasons.length > 0
          ? this.decider.refuse("extended", info, reasons)
          : this.decider.decide(info, "extended", 0, 1, catalog, pathKey).decision;
      if (!decision.allow) {
        this.denials.deny("extended", cycle, toUpstream, info.text, info, decision.reasons, false);
        return;
      }
      this.results.add(decision.mask);
      const again = this.resolver.resolutionKey(this.cycles.spec, catalog);
      prepared.info = info;
      prepared.masks = decision.mask ?? [];
      prepared.pathKey = again;
      prepared.catalog = catalog;
      prepared.policyGeneration = this.decider.policyGeneration;
      this.bind(message, toUpstream, portal, prepared.raw, info, decision.mask ?? [], again, catalog);
    };
    if (!this.resolver.needsCatalog([prepared.raw])) {
      rebind();
      return true;
    }
    return this.resolver.withCatalog(rebind);
  }

  private bind(
    message: FrontendMessage,
    toUpstream: Buffer[],
    portal: string,
    raw: StatementInfo,
    info: StatementInfo,
    masks: ColumnMask[],
    pathKey: string,
    catalog: CatalogSnapshot | undefined,
  ): void {
    toUpstream.push(message.raw);
    this.cycles.portals.set(portal, {
      cycle: this.cycles.seq,
      info,
      masks,
      policyGeneration: this.decider.policyGeneration,
      effect: effectOf(raw, info, masks, pathKey, catalog, this.decider.policyGeneration),
    });
  }

  onExecute(message: FrontendMessage, toUpstream: Buffer[], cycle: Cycle): true {
    const { portal } = decodeExecute(message.body);
    const entry = this.cycles.portals.get(portal);
    if (!entry) {
      // a portal the proxy did not bind: a cursor (DECLARE), whose rows FETCH returns with a RowDescription
      this.denials.deny("extended", cycle, toUpstream, `<Execute of portal "${portal}">`, null, [
        `portal "${portal}" was not bound through Portcullis (use FETCH to read a cursor)`,
      ]);
      return true;
    }
    if (entry.policyGeneration !== this.decider.policyGeneration) {
      // Decided at Bind under a policy (or grants) no longer in force: a portal held in a transaction
      // block would otherwise run what the policy may now refuse. Bind it again to have it decided.
      this.denials.deny("extended", cycle, toUpstream, `<Execute of portal "${portal}">`, null, [
        `portal "${portal}" was bound under a policy or grants no longer in force: bind it again`,
      ]);
      return true;
    }
    if (this.results.masks.length > 0) {
      // Once a session has masks, every Execute is preceded by the proxy's own Describe of the portal:
      // its answer, the RowDescription of whatever the server holds under that name right then (a
      // cursor DECLAREd since, a portal re-bound, one that outlived its transaction), is the masking
      // plan of the rows that follow. Nothing the proxy remembers about the portal is trusted for it.
      // (the buffer is only ever written, never changed: the unnamed portal's is shared)
      toUpstream.push(
        portal === "" ? DESCRIBE_UNNAMED_PORTAL : serialize.describe({ type: "P", name: portal }),
      );
      cycle.ours.push(cycle.describes++);
      this.cycles.ourDescribes++;
    }
    toUpstream.push(message.raw);
    cycle.executes++;
    // A `SELECT set_config('search_path', …)` computes its one row, and so makes its call, at the
    // portal's first Execute (whatever its row limit); a later Execute of the portal returns no row
    // and calls nothing, so it must not set the path again (a SET in between stays in force).
    const effect = entry.executed === true && entry.info.sole_set_config === true ? NO_EFFECT : entry.effect;
    entry.executed = true;
    effect(this.cycles.spec);
    cycle.completions.push(effect);
    if (changesState(entry.info)) cycle.tracked = true;
    if (isDdl(entry.info)) this.cycles.ddlSent(cycle);
    this.cycles.executed(entry.info);
    if (copiesFromClient(entry.info)) this.cycles.copyFromClient = true;
    return true;
  }
}
