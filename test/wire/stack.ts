/**
 * The two sides the differential harness compares: one throwaway PostgreSQL, reached directly as the
 * `admin` role and through a real data plane (default policies) as carol, whom the policy maps to
 * `admin` (unrestricted). Fixtures both sides share:
 *
 * - `wire_private.secret`: a schema `admin` has no USAGE on, so `SELECT * FROM wire_private.secret`
 *   fails at its Parse with 42501, as a statement the proxy denies does (the direct stand-in);
 * - `public.wire_copy`: a table `admin` may COPY into.
 */
import { type LocalPostgres, startPostgres } from "../../devstack/postgres.js";
import { type ProxyStack, startProxyStack, USERS } from "../harness/proxy-stack.js";
import { WireClient } from "../harness/wire-client.js";
import type { Sides } from "./differential.js";

export interface WireStack extends Sides {
  pg: LocalPostgres;
  stack: ProxyStack;
  stop(): Promise<void>;
}

export async function startWireStack(): Promise<WireStack> {
  const pg = await startPostgres();
  const stack = await startProxyStack({ pg });
  await pg.psql(
    [
      "CREATE SCHEMA wire_private",
      "REVOKE ALL ON SCHEMA wire_private FROM PUBLIC",
      "CREATE TABLE wire_private.secret (x int)",
      "CREATE TABLE public.wire_copy (x int, t text)",
      "GRANT ALL ON public.wire_copy TO admin",
    ].join("; "),
    "postgres",
  );
  const token = await stack.token(USERS.carol, { lifetimeSeconds: 3600 });
  return {
    pg,
    stack,
    direct: () =>
      WireClient.direct({
        host: "127.0.0.1",
        port: pg.port,
        user: "admin",
        password: pg.passwords.admin,
        database: "app",
      }),
    proxy: () =>
      WireClient.connect({
        host: "127.0.0.1",
        port: stack.port,
        user: "carol@example.com",
        password: token,
        database: "app",
      }),
    async stop() {
      await stack.stop();
      await pg.stop();
    },
  };
}
