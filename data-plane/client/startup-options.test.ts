import { describe, expect, it } from "vitest";
import { parseStartupOptions, StartupOptionRefused, splitOptions } from "./startup-options.js";

describe("start-up options are read as the server reads them, forwarded only when harmless", () => {
  it("splits words on spaces with backslash escapes, as pg_split_opts does", () => {
    expect(splitOptions("  -c  a=b\\ c   --x=y ")).toEqual(["-c", "a=b c", "--x=y"]);
  });

  it("keeps -c name=value, -cname=value and --name=value settings of the forwarded set", () => {
    expect(
      parseStartupOptions(
        "-c statement_timeout=5s -cLock_Timeout=1s --default-transaction-isolation=serializable",
      ),
    ).toEqual({
      statement_timeout: "5s",
      lock_timeout: "1s",
      default_transaction_isolation: "serializable",
    });
    expect(parseStartupOptions("-c application_name=a\\ b")).toEqual({ application_name: "a b" });
  });

  it("keeps search_path, under any spelling, for the start-up search_path check and the policy", () => {
    expect(parseStartupOptions("-c search_path=evil,pg_catalog")).toEqual({ search_path: "evil,pg_catalog" });
    expect(parseStartupOptions("--Search-Path=foo")).toEqual({ search_path: "foo" });
    expect(parseStartupOptions('-c search_path="My\\ Schema",\\ public')).toEqual({
      search_path: '"My Schema", public',
    });
  });

  it("refuses, naming it, every setting the policy decides or the proxy's reading depends on", () => {
    for (const options of [
      "-c role=admin",
      "-c standard_conforming_strings=off",
      "-c session_replication_role=replica",
    ]) {
      expect(() => parseStartupOptions(options), options).toThrow(StartupOptionRefused);
    }
    expect(() => parseStartupOptions("--role=admin")).toThrow(/"--role=admin".*setting role/);
  });

  it("refuses other server switches and malformed settings", () => {
    for (const options of ["-d 5", "-e", "-c", "-c statement_timeout", "--=x", "plain"]) {
      expect(() => parseStartupOptions(options), options).toThrow(StartupOptionRefused);
    }
  });
});
