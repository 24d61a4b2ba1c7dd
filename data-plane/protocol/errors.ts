import { SQLSTATE, type SqlState } from "./codes.js";

export { SQLSTATE, type SqlState };

/** A protocol error the proxy reports to the client before closing the connection. */
export class ProtocolError extends Error {
  constructor(
    message: string,
    readonly sqlstate: SqlState = SQLSTATE.protocolViolation,
  ) {
    super(message);
  }
}

/**
 * The client left (a Terminate before authentication completed) or sent a start-up packet whose length
 * is out of range: PostgreSQL closes such a connection without a word (COMMERROR), and so does the proxy.
 */
export class QuietClose extends ProtocolError {}
