import { readFileSync } from "node:fs";
import { createSecureContext, type SecureContext } from "node:tls";
import { generate } from "selfsigned";

/**
 * The client-facing TLS context: the configured certificate and key, or, when none is configured,
 * a self-signed ECDSA P-256 certificate made at start-up for local development (clients then use
 * sslmode=require, which encrypts without checking the certificate).
 */
export async function clientTlsContext(
  certFile: string | undefined,
  keyFile: string | undefined,
): Promise<{ context: SecureContext; selfSigned: boolean; certPem: string }> {
  if (certFile && keyFile) {
    const cert = readFileSync(certFile, "utf8");
    const key = readFileSync(keyFile, "utf8");
    return {
      context: createSecureContext({ cert, key, minVersion: "TLSv1.2" }),
      selfSigned: false,
      certPem: cert,
    };
  }
  const generated = await selfSignedCertificate("portcullis-dev");
  return {
    context: createSecureContext({ cert: generated.cert, key: generated.key, minVersion: "TLSv1.2" }),
    selfSigned: true,
    certPem: generated.cert,
  };
}

export async function selfSignedCertificate(commonName: string): Promise<{ cert: string; key: string }> {
  const pems = await generate([{ name: "commonName", value: commonName }], {
    keyType: "ec",
    algorithm: "sha256",
    notAfterDate: new Date(Date.now() + 30 * 24 * 3600 * 1000),
    extensions: [
      { name: "basicConstraints", cA: false },
      {
        name: "subjectAltName",
        altNames: [
          { type: 2, value: "localhost" },
          { type: 7, ip: "127.0.0.1" },
        ],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}
