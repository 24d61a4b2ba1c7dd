import type { Socket } from "node:net";
import { type SecureContext, TLSSocket } from "node:tls";
import { ProtocolError, SQLSTATE } from "../protocol/errors.js";
import type { SocketReader } from "./socket-reader.js";

/**
 * The first stage of a client connection: SSLRequest (→ TLS), GSSENCRequest (refused),
 * CancelRequest, and finally a StartupMessage for protocol 3.0.
 */

export type StartupResult =
  | {
      kind: "startup";
      socket: Socket;
      tls: { version: string; cipher: string } | null;
      parameters: Record<string, string>;
      /** _pq_.* options and the minor version the client asked for, to answer with NegotiateProtocolVersion. */
      negotiate: { minor: number; unsupported: string[] } | null;
    }
  | { kind: "cancel"; processId: number; secretKey: number };

export interface StartupOptions {
  secureContext: SecureContext | undefined;
  handshakeTimeoutMs: number;
}

async function upgradeToTls(socket: Socket, options: StartupOptions): Promise<TLSSocket> {
  const tls = new TLSSocket(socket, { isServer: true, secureContext: options.secureContext });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new ProtocolError("TLS handshake timed out")),
      options.handshakeTimeoutMs,
    );
    tls.once("secure", () => {
      clearTimeout(timer);
      resolve();
    });
    tls.once("error", (err) => {
      clearTimeout(timer);
      reject(new ProtocolError(`TLS handshake failed: ${err.message}`));
    });
  });
  return tls;
}

export async function negotiateStartup(
  socket: Socket,
  reader: SocketReader,
  options: StartupOptions,
): Promise<StartupResult> {
  let current: Socket = socket;
  let tls: { version: string; cipher: string } | null = null;
  let sslTried = false;
  let gssTried = false;
  for (;;) {
    const packet = await reader.readStartupPacket();
    switch (packet.kind) {
      case "ssl": {
        if (sslTried) throw new ProtocolError("duplicate SSLRequest");
        sslTried = true;
        if (!options.secureContext) {
          current.write("N");
          break;
        }
        if (reader.buffered > 0) throw new ProtocolError("received unencrypted data after SSL request");
        current.write("S");
        reader.handshaking = true;
        const secure = await upgradeToTls(current, options).finally(() => {
          reader.handshaking = false;
        });
        reader.replaceSocket(secure);
        current = secure;
        tls = { version: secure.getProtocol() ?? "unknown", cipher: secure.getCipher()?.name ?? "unknown" };
        break;
      }
      case "gssenc":
        if (gssTried || tls) throw new ProtocolError("unexpected GSSENCRequest");
        gssTried = true;
        current.write("N"); // GSSAPI encryption is not offered; libpq falls back to SSL or plain
        break;
      case "cancel":
        return { kind: "cancel", processId: packet.processId, secretKey: packet.secretKey };
      case "startup": {
        if (packet.major !== 3) {
          throw new ProtocolError(
            `unsupported frontend protocol ${packet.major}.${packet.minor}: server supports 3.0 to 3.0`,
            SQLSTATE.featureNotSupported,
          );
        }
        const unsupported = Object.keys(packet.parameters).filter((k) => k.startsWith("_pq_."));
        for (const key of unsupported) delete packet.parameters[key];
        const negotiate =
          packet.minor > 0 || unsupported.length > 0 ? { minor: packet.minor, unsupported } : null;
        return { kind: "startup", socket: current, tls, parameters: packet.parameters, negotiate };
      }
    }
  }
}
