/**
 * Ending a live session from the proxy's side (revocation, token expiry, session time limit, a
 * stale deny-list in strict mode): when a query may be running upstream, a CancelRequest goes to
 * the upstream backend first (PostgreSQL does not notice a closed socket while it executes, so a
 * long query would otherwise run on), then the client gets `FATAL <sqlstate> <message>` and both
 * sockets are closed, which ends the upstream session and rolls back any open transaction.
 */
import type { Logger } from "../../common/logger.js";
import { SQLSTATE } from "../protocol/errors.js";
import type { LiveSession } from "./registry.js";

export type EndReason = "revoked" | "expired" | "max_duration" | "stale" | "grant_ended";

export function endSession(
  session: LiveSession,
  reason: EndReason,
  message: string,
  logger?: Logger,
  sqlstate: string = SQLSTATE.adminShutdown,
): void {
  if (session.endReason !== undefined) return;
  session.endReason = reason;
  if (session.busy?.()) {
    session
      .cancel()
      .catch((err: Error) =>
        logger?.warn({ session: session.id, err: err.message }, "cancelling the upstream query failed"),
      );
  }
  session.terminate(sqlstate, message);
}
