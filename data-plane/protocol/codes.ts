/**
 * The codes of the PostgreSQL protocol the data plane reads and writes, named in one place: the
 * SQLSTATE codes it raises or recognises (PostgreSQL Appendix A), and the type bytes of the backend
 * messages it inspects (as the protocol's Message Formats chapter letters them).
 */

/** SQLSTATE codes the proxy raises itself or acts on. */
export const SQLSTATE = {
  /** 01000: a plain warning (a NOTICE/WARNING without a more precise code). */
  warning: "01000",
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
  idleInTransactionTimeout: "25P03",
  invalidCatalogName: "3D000",
} as const;
export type SqlState = (typeof SQLSTATE)[keyof typeof SQLSTATE];

/**
 * Type bytes of backend (upstream → client) messages the proxy looks at. A `const enum`: the compiler
 * writes the byte itself at each use, as a literal would be.
 */
// biome-ignore lint/suspicious/noConstEnum: inlined by tsc so the relay's per-message switches compare literals
export const enum BackendCode {
  /** '1' */
  ParseComplete = 0x31,
  /** '2' */
  BindComplete = 0x32,
  /** '3' */
  CloseComplete = 0x33,
  /** 'C' */
  CommandComplete = 0x43,
  /** 'D' */
  DataRow = 0x44,
  /** 'E' */
  ErrorResponse = 0x45,
  /** 'I' */
  EmptyQueryResponse = 0x49,
  /** 'K' */
  BackendKeyData = 0x4b,
  /** 'N' */
  NoticeResponse = 0x4e,
  /** 'R' */
  Authentication = 0x52,
  /** 'S' */
  ParameterStatus = 0x53,
  /** 'T' */
  RowDescription = 0x54,
  /** 'Z' */
  ReadyForQuery = 0x5a,
  /** 'n' */
  NoData = 0x6e,
  /** 's' */
  PortalSuspended = 0x73,
}

/**
 * Type bytes of frontend (client → proxy) messages, as the characters FrontendMessage.type holds.
 * A `const enum`: the compiler writes the letter itself at each use.
 */
// biome-ignore lint/suspicious/noConstEnum: inlined by tsc so the gate's per-message switches compare literals
export const enum FrontendCode {
  Bind = "B",
  Close = "C",
  CopyData = "d",
  CopyDone = "c",
  CopyFail = "f",
  Describe = "D",
  Execute = "E",
  Flush = "H",
  /** the fastpath call of a function by OID */
  FunctionCall = "F",
  Parse = "P",
  /** PasswordMessage, and the SASL and GSS responses, during authentication */
  Password = "p",
  Query = "Q",
  Sync = "S",
  Terminate = "X",
}
