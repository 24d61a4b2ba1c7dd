/** SQLSTATE codes the proxy itself raises (PostgreSQL Appendix A). */
export const SQLSTATE = {
  protocolViolation: "08P01",
  connectionFailure: "08006",
  cannotConnectNow: "57P03",
  adminShutdown: "57P01",
  invalidAuthorization: "28000",
  invalidPassword: "28P01",
  insufficientPrivilege: "42501",
  featureNotSupported: "0A000",
  invalidParameterValue: "22023",
  syntaxError: "42601",
  tooManyConnections: "53300",
  internalError: "XX000",
  queryCanceled: "57014",
} as const;
export type SqlState = (typeof SQLSTATE)[keyof typeof SQLSTATE];

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
