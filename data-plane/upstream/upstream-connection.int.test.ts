import { generate } from "selfsigned";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalPostgres, startPostgres } from "../../devstack/postgres.js";
import { connectUpstream, type UpstreamError, type UpstreamTarget } from "./upstream-connection.js";

/**
 * Upstream TLS: the TLS context is shared between logins (one per trusted CA), so each mode must still
 * check exactly what it says, whatever logins came before it.
 */
describe("upstream login over TLS", () => {
  let pg: LocalPostgres;
  let otherCa: string;

  beforeAll(async () => {
    pg = await startPostgres();
    const other = await generate([{ name: "commonName", value: "localhost" }], {
      keyType: "ec",
      algorithm: "sha256",
    });
    otherCa = other.cert;
  });
  afterAll(async () => {
    await pg?.stop();
  });

  const target = (tls: UpstreamTarget["tls"], ca?: string): UpstreamTarget => ({
    host: pg.host,
    port: pg.port,
    tls,
    ca,
    connectTimeoutMs: 5_000,
  });
  const login = () => ({ user: "app_rw", password: pg.passwords.app_rw, database: "app", parameters: {} });

  it("require encrypts without checking the certificate, login after login", async () => {
    for (let i = 0; i < 3; i++) {
      const session = await connectUpstream(target("require"), login());
      expect("encrypted" in session.socket).toBe(true);
      expect(session.status).toBe("I");
      session.socket.destroy();
    }
  });

  it("verify-full accepts the server's certificate with its CA and refuses it otherwise", async () => {
    const ok = await connectUpstream(target("verify-full", pg.serverCert), login());
    expect(ok.status).toBe("I");
    ok.socket.destroy();

    // after logins with other settings, a CA that did not sign the certificate still fails
    const wrongCa = await connectUpstream(target("verify-full", otherCa), login()).catch(
      (e: UpstreamError) => e,
    );
    expect(wrongCa).toMatchObject({ kind: "tls" });
    const noCa = await connectUpstream(target("verify-full"), login()).catch((e: UpstreamError) => e);
    expect(noCa).toMatchObject({ kind: "tls" });

    const again = await connectUpstream(target("verify-full", pg.serverCert), login());
    again.socket.destroy();
  });
});
