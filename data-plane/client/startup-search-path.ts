/**
 * A `search_path` given at start-up (`-c search_path=…` / `--search_path=…` in `options`, or a start-up
 * parameter of that name). The proxy accepts it only when it knows exactly what the server will search:
 *
 * 1. before the password is asked for, the value is read as the server reads it (SplitIdentifierString:
 *    a comma list of identifiers, quoted or not, unquoted ones downcased, `$user` as itself). A value the
 *    server would refuse is refused with its SQLSTATE, 22023; one the proxy cannot represent exactly
 *    (an empty list, a name the server would truncate) with 0A000;
 * 2. the value is forwarded upstream as it came, so `SHOW search_path` answers what the client gave;
 * 3. after login, what the server reports (`current_setting('search_path')`) must be that list, and
 *    every schema it really searches (`current_schemas(false)`) must be one of it, in order
 *    ({@link checkServerSearchPath});
 * 4. the policy decides it as the `SET search_path TO …` it equals ({@link StartupSearchPath.statement}):
 *    a denial refuses the login with 42501.
 *
 * The gate's search_path model then starts from the server's value, which `RESET search_path`,
 * `RESET ALL` and `DISCARD ALL` return to, as on the server.
 */
import { SQLSTATE, type SqlState } from "../protocol/errors.js";
import { splitIdentifierList } from "../sql/settings.js";

/** NAMEDATALEN - 1: the server truncates longer names. */
const MAX_NAME_BYTES = 63;

export class StartupSearchPathRefused extends Error {
  constructor(
    message: string,
    readonly sqlstate: SqlState,
  ) {
    super(message);
  }
}

export interface StartupSearchPath {
  /** The value as the client gave it: forwarded upstream unchanged. */
  value: string;
  /** The schemas it names, as the server reads them (`$user` unexpanded). */
  schemas: string[];
  /** The SQL statement the setting equals, decided by the policy like any SET. */
  statement: string;
}

/** Reads a start-up search_path value, or throws StartupSearchPathRefused with the SQLSTATE to refuse. */
export function parseStartupSearchPath(value: string): StartupSearchPath {
  const schemas = splitIdentifierList(value);
  if (schemas === null) {
    throw new StartupSearchPathRefused(
      `invalid value for parameter "search_path": "${value}" (List syntax is invalid.)`,
      SQLSTATE.invalidParameterValue,
    );
  }
  if (schemas.length === 0) {
    throw new StartupSearchPathRefused(
      "an empty start-up search_path is not supported through Portcullis (run SET search_path after connecting)",
      SQLSTATE.featureNotSupported,
    );
  }
  for (const schema of schemas) {
    if (Buffer.byteLength(schema, "utf8") > MAX_NAME_BYTES) {
      throw new StartupSearchPathRefused(
        `start-up search_path name "${schema}" is longer than ${MAX_NAME_BYTES} bytes: the server would truncate it, which is not supported through Portcullis`,
        SQLSTATE.featureNotSupported,
      );
    }
  }
  // Each name as a string constant: the server quotes such a value as an identifier (GUC_LIST_QUOTE),
  // so the SET gives exactly this list ('$user' included, which it reads as $user).
  const statement = `SET search_path TO ${schemas.map((s) => `'${s.replaceAll("'", "''")}'`).join(", ")}`;
  return { value, schemas, statement };
}

/**
 * Checks what the server says after login against the list given at start-up: `setting` is
 * `current_setting('search_path')`, `searched` the schemas of `current_schemas(false)` in order.
 * Returns why they disagree, or undefined.
 */
export function checkServerSearchPath(
  given: StartupSearchPath,
  setting: string | null,
  searched: string[] | null,
  role: string,
): string | undefined {
  const reported = setting === null ? null : splitIdentifierList(setting);
  if (
    reported === null ||
    reported.length !== given.schemas.length ||
    reported.some((s, i) => s !== given.schemas[i])
  ) {
    return `the server's search_path (${setting ?? "none"}) is not the one given at start-up (${given.value})`;
  }
  if (searched === null) return "the server did not say which schemas it searches";
  const expected = given.schemas.map((s) => (s === "$user" ? role : s));
  let at = 0;
  for (const schema of searched) {
    const name = /^pg_temp_\d+$/.test(schema) ? "pg_temp" : schema;
    while (at < expected.length && expected[at] !== name) at++;
    if (at >= expected.length) {
      return `the server searches schema ${schema}, which the start-up search_path (${given.value}) does not name in that order`;
    }
    at++;
  }
  return undefined;
}
