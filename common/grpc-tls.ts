/**
 * TLS channel credentials that never send an IP address as the TLS server name.
 *
 * grpc-js sets `servername` (SNI) to the target's host, and Node warns (DEP0123) when that is an IP
 * address: RFC 6066 forbids IP literals in SNI. The certificate is still checked against the IP (the
 * connection's `host`), so dropping the server name changes nothing but the warning. grpc-js has no
 * option for it, so the connector it makes is adjusted here (`_createSecureConnector`, the one hook
 * every secure channel goes through).
 */
import { isIP } from "node:net";
import type * as grpc from "@grpc/grpc-js";

interface SecureConnectorLike {
  connectionOptions?: { servername?: string };
}

interface WithConnector {
  _createSecureConnector(target: unknown, options: unknown, callCredentials?: unknown): SecureConnectorLike;
}

export function withoutIpServerName(credentials: grpc.ChannelCredentials): grpc.ChannelCredentials {
  const creds = credentials as unknown as WithConnector;
  const original = creds._createSecureConnector;
  if (typeof original !== "function") return credentials;
  creds._createSecureConnector = function (target, options, callCredentials) {
    const connector = original.call(this, target, options, callCredentials);
    const name = connector.connectionOptions?.servername;
    if (connector.connectionOptions && name !== undefined && isIP(name.replace(/^\[|\]$/g, "")) !== 0) {
      delete connector.connectionOptions.servername;
    }
    return connector;
  };
  return credentials;
}
