import { LoginRefused } from "./client/login.js";
import { FORWARDED_SETTINGS, parseStartupOptions, StartupOptionRefused } from "./client/startup-options.js";
import {
  parseStartupSearchPath,
  type StartupSearchPath,
  StartupSearchPathRefused,
} from "./client/startup-search-path.js";
import type { DataPlaneConfig } from "./config.js";
import {
  authenticationOk,
  backendKeyData,
  errorResponse,
  parameterStatus,
  readyForQuery,
  type TransactionStatus,
} from "./protocol/backend-messages.js";
import { SQLSTATE } from "./protocol/codes.js";
import { unsafeClientEncoding, unsafeReportedSetting } from "./statements/invariants.js";
import type { UpstreamSession } from "./upstream/upstream-connection.js";

/**
 * The stages of one client connection that need no state of the proxy beyond their arguments, in the
 * order `DataPlane.handle` runs them:
 *
 * 1. `refuseUnsupportedConnection`: too many clients, replication connections;
 * 2. `readStartupSettings`: `options` and a start-up search_path, read as the server reads them;
 * 3. `refuseUnsafeClientEncoding`: a client_encoding the proxy's reading of SQL cannot follow;
 *    (then the token login and the connection policy, in `client/login.ts`)
 * 4. `upstreamParameters`: what is forwarded to the upstream login, and what is ignored;
 *    (then the upstream session, fresh or pooled, and the relay stages)
 * 5. `unsafeUpstreamSettings`: an upstream session (fresh or pooled) reporting settings the proxy
 *    cannot read SQL under is refused;
 * 6. `greeting`: what the client is told once its session is ready.
 */

/** Refusals the start-up packet alone decides, before anything is asked of the client. */
export function refuseUnsupportedConnection(
  parameters: Record<string, string>,
  clients: number,
  config: DataPlaneConfig,
): void {
  if (clients > config.session.max_client_connections) {
    throw new LoginRefused(
      `sorry, too many clients already (session.max_client_connections ${config.session.max_client_connections})`,
      SQLSTATE.tooManyConnections,
    );
  }
  if (parameters.replication && parameters.replication !== "false") {
    throw new LoginRefused(
      "replication connections are not supported through Portcullis",
      SQLSTATE.featureNotSupported,
    );
  }
}

export interface StartupSettings {
  /** Settings given in `options` (-c name=value …). */
  optionSettings: Record<string, string>;
  startupSearchPath: StartupSearchPath | undefined;
}

/**
 * `options` (-c name=value …) is read as the server reads it: settings the proxy forwards anyway
 * become start-up parameters (those given as parameters win, as on the server), anything else is
 * refused by name, never dropped. A start-up search_path (a parameter of that name wins over
 * `options`, as on the server) is read as the server reads it before the password is asked for; the
 * policy decides it after login.
 */
export function readStartupSettings(parameters: Record<string, string>): StartupSettings {
  let optionSettings: Record<string, string> = {};
  if (parameters.options !== undefined) {
    try {
      optionSettings = parseStartupOptions(parameters.options);
    } catch (err) {
      if (!(err instanceof StartupOptionRefused)) throw err;
      throw new LoginRefused(err.message, SQLSTATE.featureNotSupported);
    }
  }
  let searchPathValue = optionSettings.search_path;
  for (const [key, value] of Object.entries(parameters)) {
    if (key.toLowerCase() === "search_path") searchPathValue = value;
  }
  let startupSearchPath: StartupSearchPath | undefined;
  if (searchPathValue !== undefined) {
    try {
      startupSearchPath = parseStartupSearchPath(searchPathValue);
    } catch (err) {
      if (!(err instanceof StartupSearchPathRefused)) throw err;
      throw new LoginRefused(err.message, err.sqlstate);
    }
  }
  return { optionSettings, startupSearchPath };
}

/** A client_encoding the proxy cannot read SQL in is refused; the server takes setting names in any case (CLIENT_ENCODING=SJIS): so does this check. */
export function refuseUnsafeClientEncoding(
  optionSettings: Record<string, string>,
  parameters: Record<string, string>,
): void {
  for (const [key, encoding] of [...Object.entries(optionSettings), ...Object.entries(parameters)]) {
    if (key.toLowerCase() === "client_encoding" && unsafeClientEncoding(encoding)) {
      throw new LoginRefused(
        `client_encoding ${encoding} is not supported through Portcullis`,
        SQLSTATE.featureNotSupported,
      );
    }
  }
}

/**
 * The start-up parameters of the upstream login: the settings the proxy forwards (from `options` and
 * the packet), and the names of the others, which the client is told were ignored. What the proxy's
 * reading of SQL depends on is set explicitly, so that no database or role default (ALTER DATABASE …
 * SET client_encoding) applies; the values reported are checked too.
 */
export function upstreamParameters(
  parameters: Record<string, string>,
  settings: StartupSettings,
): { forwarded: Record<string, string>; ignored: string[] } {
  const forwarded: Record<string, string> = { ...settings.optionSettings };
  const ignored: string[] = [];
  for (const [key, value] of Object.entries(parameters)) {
    if (key === "user" || key === "database" || key === "options") continue;
    if (key.toLowerCase() === "search_path") continue;
    if (FORWARDED_SETTINGS.has(key.toLowerCase())) forwarded[key.toLowerCase()] = value;
    else if (value !== "") ignored.push(key);
  }
  delete forwarded.search_path;
  if (settings.startupSearchPath) forwarded.search_path = settings.startupSearchPath.value;
  forwarded.client_encoding ??= "UTF8";
  forwarded.standard_conforming_strings = "on";
  return { forwarded, ignored };
}

/**
 * Why an upstream session cannot be used: it did not report standard_conforming_strings, or reported
 * a setting under which the proxy would read SQL otherwise than the server (see invariants.ts).
 */
export function unsafeUpstreamSettings(
  parameters: readonly (readonly [string, string])[],
): string | undefined {
  const reported = new Map(parameters.map(([name, value]) => [name.toLowerCase(), value]));
  return (
    (reported.get("standard_conforming_strings") === undefined
      ? "the database session did not report standard_conforming_strings"
      : undefined) ?? [...reported].map(([name, value]) => unsafeReportedSetting(name, value)).find((r) => r)
  );
}

/**
 * What the client gets once its session is ready: AuthenticationOk, the upstream's ParameterStatus
 * messages, the proxy's own BackendKeyData (cancel requests come to the proxy), a NOTICE per ignored
 * start-up parameter, and ReadyForQuery.
 */
export function greeting(
  upstream: UpstreamSession,
  keys: { processId: number; secretKey: number },
  ignored: readonly string[],
): Buffer {
  const messages: Buffer[] = [authenticationOk()];
  for (const [name, value] of upstream.parameters) messages.push(parameterStatus(name, value));
  messages.push(backendKeyData(keys.processId, keys.secretKey));
  for (const key of ignored) {
    messages.push(
      errorResponse(
        {
          severity: "NOTICE",
          code: SQLSTATE.warning,
          message: `startup parameter "${key}" ignored by Portcullis`,
        },
        "N",
      ),
    );
  }
  messages.push(readyForQuery(upstream.status as TransactionStatus));
  return Buffer.concat(messages);
}
