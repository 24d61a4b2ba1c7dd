/**
 * The StartupMessage's `options` parameter: command-line switches for the server's backend
 * (`-c name=value`, `--name=value`, and other postgres switches). The proxy never forwards the string
 * as it is. It reads it as the server does (pg_split_opts: words split on spaces, a backslash escapes
 * the next character), keeps the settings it forwards as start-up parameters anyway (harmless session
 * settings that change nothing the proxy's analysis or the policy depends on) and `search_path` (read,
 * decided by the policy as the SET it equals and checked after login: startup-search-path.ts), and
 * refuses everything else: a setting the policy decides when it is SET (role), one the proxy's reading
 * of SQL depends on, or any other switch. Silently dropping one would leave the client believing a
 * setting is in force that is not.
 */

/** Settings a client may give in `options` (or as start-up parameters): forwarded to the upstream. */
export const FORWARDED_SETTINGS = new Set([
  "application_name",
  "client_encoding",
  "datestyle",
  "timezone",
  "intervalstyle",
  "extra_float_digits",
  "statement_timeout",
  "lock_timeout",
  "idle_in_transaction_session_timeout",
  "default_transaction_isolation",
  "default_transaction_read_only",
  "default_transaction_deferrable",
]);

/**
 * Settings a client may give at start-up that the proxy forwards only once it has read the value and
 * the policy has decided it as the SET it equals (see startup-search-path.ts).
 */
export const DECIDED_SETTINGS = new Set(["search_path"]);

export class StartupOptionRefused extends Error {}

/** Splits `options` into words the way the server does (pg_split_opts). */
export function splitOptions(options: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < options.length) {
    while (i < options.length && /\s/.test(options[i]!)) i++;
    if (i >= options.length) break;
    let word = "";
    while (i < options.length && !/\s/.test(options[i]!)) {
      if (options[i] === "\\" && i + 1 < options.length) i++;
      word += options[i]!;
      i++;
    }
    words.push(word);
  }
  return words;
}

/**
 * The settings of `options`, by lower-cased name, or a StartupOptionRefused naming the first switch
 * or setting the proxy will not forward.
 */
export function parseStartupOptions(options: string): Record<string, string> {
  const words = splitOptions(options);
  const settings: Record<string, string> = {};
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    let assignment: string | undefined;
    let shown = word;
    if (word === "-c") {
      assignment = words[i + 1];
      shown = `-c ${assignment ?? ""}`;
      i++;
    } else if (word.startsWith("--")) {
      assignment = word.slice(2);
    } else if (word.startsWith("-c")) {
      assignment = word.slice(2);
    }
    if (assignment === undefined) {
      throw new StartupOptionRefused(
        `start-up option "${shown}" is not supported through Portcullis (only -c name=value settings are)`,
      );
    }
    const eq = assignment.indexOf("=");
    if (eq <= 0) {
      throw new StartupOptionRefused(`start-up option "${shown}" is not a name=value setting`);
    }
    // the server reads --name-with-dashes as name_with_dashes, and names in any case
    const name = assignment.slice(0, eq).replace(/-/g, "_").toLowerCase();
    if (!FORWARDED_SETTINGS.has(name) && !DECIDED_SETTINGS.has(name)) {
      throw new StartupOptionRefused(
        `start-up option "${shown}" is not supported through Portcullis: setting ${name} cannot be given at start-up (run SET after connecting, where the policy decides it)`,
      );
    }
    settings[name] = assignment.slice(eq + 1);
  }
  return settings;
}
