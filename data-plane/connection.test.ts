import { describe, expect, it } from "vitest";
import { LoginRefused } from "./client/login.js";
import {
  readStartupSettings,
  refuseUnsafeClientEncoding,
  unsafeUpstreamSettings,
  upstreamParameters,
} from "./connection.js";
import { SQLSTATE } from "./protocol/codes.js";

// The start-up stages of a connection that depend on the start-up packet alone.

function refusal(run: () => unknown): LoginRefused {
  try {
    run();
  } catch (err) {
    if (err instanceof LoginRefused) return err;
    throw err;
  }
  throw new Error("not refused");
}

describe("the start-up packet's settings, read as the server reads them", () => {
  it("takes a search_path parameter over one in options, whatever its case", () => {
    const settings = readStartupSettings({
      user: "u",
      options: "-c search_path=from_options",
      Search_Path: "from_parameter",
    });
    expect(settings.startupSearchPath?.value).toBe("from_parameter");
  });

  it("refuses an options setting the proxy does not forward, by name", () => {
    const refused = refusal(() => readStartupSettings({ options: "-c session_replication_role=replica" }));
    expect(refused.sqlstate).toBe(SQLSTATE.featureNotSupported);
    expect(refused.message).toContain("session_replication_role");
  });

  it("refuses a client_encoding the proxy cannot read SQL in, given either way", () => {
    expect(refusal(() => refuseUnsafeClientEncoding({}, { CLIENT_ENCODING: "SJIS" })).sqlstate).toBe(
      SQLSTATE.featureNotSupported,
    );
    expect(() => refuseUnsafeClientEncoding({ client_encoding: "SJIS" }, {})).toThrow(LoginRefused);
    expect(() => refuseUnsafeClientEncoding({}, { client_encoding: "UTF8" })).not.toThrow();
  });
});

describe("the upstream login's start-up parameters", () => {
  it("forwards the settings it knows, names the others as ignored, and pins what SQL reading depends on", () => {
    const parameters = {
      user: "alice",
      database: "app",
      application_name: "psql",
      search_path: "app, public",
      frobnicate: "1",
      empty: "",
    };
    const { forwarded, ignored } = upstreamParameters(parameters, readStartupSettings(parameters));
    expect(forwarded).toEqual({
      application_name: "psql",
      search_path: "app, public",
      client_encoding: "UTF8",
      standard_conforming_strings: "on",
    });
    expect(ignored).toEqual(["frobnicate"]);
  });

  it("keeps a client_encoding the client gave, and never one from the options over a parameter", () => {
    const parameters = { options: "-c client_encoding=LATIN1", client_encoding: "UTF8" };
    const { forwarded } = upstreamParameters(parameters, readStartupSettings(parameters));
    expect(forwarded.client_encoding).toBe("UTF8");
  });
});

describe("the upstream session's reported settings", () => {
  it("refuses a session that does not report standard_conforming_strings, or reports it off", () => {
    expect(unsafeUpstreamSettings([["client_encoding", "UTF8"]])).toContain("did not report");
    expect(
      unsafeUpstreamSettings([
        ["Standard_Conforming_Strings", "off"],
        ["client_encoding", "UTF8"],
      ]),
    ).toContain("standard_conforming_strings is off");
    expect(
      unsafeUpstreamSettings([
        ["standard_conforming_strings", "on"],
        ["client_encoding", "UTF8"],
      ]),
    ).toBeUndefined();
  });
});
