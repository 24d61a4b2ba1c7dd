/**
 * TLS for the admin API (config `admin.tls`): the configured certificate chain and key, or, when
 * none is configured, a self-signed ECDSA P-256 pair made once and kept in
 * `<data_dir>/admin-tls/{cert,key}.pem` (mode 0600 for the key) so clients can pin it across
 * restarts (`portcullis admin --ca <data_dir>/admin-tls/cert.pem`, or `--insecure` to skip the
 * check). It names localhost, the loopback addresses, this host's name and `admin.host`, and is
 * made again when it has less than a day left. `admin.tls.enabled: false` (loopback only) serves
 * plaintext.
 */
import { X509Certificate } from "node:crypto";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { hostname } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { generate } from "selfsigned";
import type { Logger } from "../../common/logger.js";
import type { ControlPlaneConfig } from "../config.js";

export interface AdminTls {
  credentials: grpc.ServerCredentials;
  /** The certificate served (PEM), when TLS is on. */
  certPem?: string;
  /** Its private key (PEM), for the console's HTTPS listener. */
  keyPem?: string;
  /** Where it is on disk, when TLS is on. */
  certFile?: string;
  selfSigned: boolean;
}

const DAY_MS = 24 * 3600 * 1000;

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Names the self-signed certificate covers. */
function altNames(host: string): { type: 2; value: string }[] | { type: 7; ip: string }[] {
  const dns = new Set(["localhost", hostname()]);
  const ips = new Set(["127.0.0.1", "::1"]);
  if (host && host !== "0.0.0.0" && host !== "::") (isIP(host) ? ips : dns).add(host);
  return [
    ...[...dns].map((value) => ({ type: 2 as const, value })),
    ...[...ips].map((ip) => ({ type: 7 as const, ip })),
  ] as { type: 2; value: string }[];
}

/** Loads or makes the self-signed pair under `dir`. */
export async function selfSignedAdminCertificate(
  dir: string,
  host: string,
  logger?: Logger,
): Promise<{ cert: string; key: string; certFile: string }> {
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  const [cert, key] = await Promise.all([readIfPresent(certFile), readIfPresent(keyFile)]);
  if (cert && key) {
    try {
      const x509 = new X509Certificate(cert);
      if (Date.parse(x509.validTo) - Date.now() > DAY_MS) return { cert, key, certFile };
    } catch {
      // unreadable: make a new one
    }
  }
  const pems = await generate([{ name: "commonName", value: "portcullis-control-plane" }], {
    keyType: "ec",
    algorithm: "sha256",
    notAfterDate: new Date(Date.now() + 365 * DAY_MS),
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      { name: "subjectAltName", altNames: altNames(host) },
    ],
  });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmpKey = `${keyFile}.${process.pid}.tmp`;
  await writeFile(tmpKey, pems.private, { mode: 0o600 });
  await chmod(tmpKey, 0o600);
  await rename(tmpKey, keyFile);
  const tmpCert = `${certFile}.${process.pid}.tmp`;
  await writeFile(tmpCert, pems.cert, { mode: 0o644 });
  await rename(tmpCert, certFile);
  logger?.warn(
    { certFile },
    "admin API: no TLS certificate configured, made a self-signed one (clients: --ca this file, or --insecure)",
  );
  return { cert: pems.cert, key: pems.private, certFile };
}

export async function adminServerTls(config: ControlPlaneConfig, logger?: Logger): Promise<AdminTls> {
  const tls = config.admin.tls;
  if (!tls.enabled) {
    logger?.warn(
      "admin.tls.enabled is false: the admin API is served in plaintext (loopback development only)",
    );
    return { credentials: grpc.ServerCredentials.createInsecure(), selfSigned: false };
  }
  let cert: string;
  let key: string;
  let certFile: string;
  let selfSigned = false;
  if (tls.cert_file && tls.key_file) {
    certFile = tls.cert_file;
    [cert, key] = await Promise.all([readFile(tls.cert_file, "utf8"), readFile(tls.key_file, "utf8")]).catch(
      (err: Error) => {
        throw new Error(`admin.tls: cannot read the certificate or key: ${err.message}`);
      },
    );
  } else {
    ({ cert, key, certFile } = await selfSignedAdminCertificate(
      join(config.data_dir, "admin-tls"),
      config.admin.host,
      logger,
    ));
    selfSigned = true;
  }
  return {
    credentials: grpc.ServerCredentials.createSsl(
      null,
      [{ cert_chain: Buffer.from(cert), private_key: Buffer.from(key) }],
      false,
    ),
    certPem: cert,
    keyPem: key,
    certFile,
    selfSigned,
  };
}
